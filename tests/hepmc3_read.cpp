// Reads a HepMC3 ASCII file with HepMC3's ReaderAscii; see hepmc3_read.h.
#include "hepmc3_read.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <HepMC3/Attribute.h>
#include <HepMC3/GenEvent.h>
#include <HepMC3/GenParticle.h>
#include <HepMC3/GenRunInfo.h>
#include <HepMC3/GenVertex.h>
#include <HepMC3/Print.h>
#include <HepMC3/ReaderAscii.h>

namespace {

template <class T> T *copy_out(const std::vector<T> &v)
{
    T *p = static_cast<T *>(std::malloc(v.size() * sizeof(T) + 1));
    if (p && !v.empty())
        std::memcpy(p, v.data(), v.size() * sizeof(T));
    return p;
}

void put(char *dst, size_t n, const std::string &s) { std::snprintf(dst, n, "%s", s.c_str()); }

std::string run_attr(const std::shared_ptr<HepMC3::GenRunInfo> &ri, const char *name)
{
    auto a = ri->attribute<HepMC3::StringAttribute>(name);
    return a ? a->value() : std::string();
}

double run_attr_f64(const std::shared_ptr<HepMC3::GenRunInfo> &ri, const char *name)
{
    auto a = ri->attribute<HepMC3::DoubleAttribute>(name);
    return a ? a->value() : NAN;
}

} // namespace

extern "C" int h3_read(const char *path, h3_file *out, char *err, size_t errlen)
{
    using namespace HepMC3;
    std::memset(out, 0, sizeof *out);
    try {
        ReaderAscii r(path);
        if (r.failed()) {
            std::snprintf(err, errlen, "%s: ReaderAscii cannot open it", path);
            return 1;
        }
        std::vector<int64_t> evno, count;
        std::vector<double> evw, p, mg, mc, pos, w;
        std::vector<int32_t> pid;
        out->units_gev_mm = 1;
        out->parents_ok = 1;
        for (;;) {
            GenEvent evt;
            r.read_event(evt);
            if (r.failed())
                break;
            evno.push_back(evt.event_number());
            evw.push_back(evt.weights().empty() ? NAN : evt.weights()[0]);
            if (evt.momentum_unit() != Units::GEV || evt.length_unit() != Units::MM)
                out->units_gev_mm = 0;
            int64_t c = 0;
            for (const auto &q : evt.particles()) {
                if (q->status() != 1) {
                    out->n_other++;
                    continue;
                }
                c++;
                const FourVector &m = q->momentum();
                const FourVector &x = q->production_vertex()->position();
                pid.push_back(q->pid());
                p.insert(p.end(), {m.px(), m.py(), m.pz(), m.e()});
                mg.push_back(q->generated_mass());
                mc.push_back(m.m());
                pos.insert(pos.end(), {x.x(), x.y(), x.z(), x.t()});
                auto wa = q->attribute<DoubleAttribute>("weight");
                w.push_back(wa ? wa->value() : NAN);
                const auto par = q->parents();
                if (par.size() != 1 || par[0]->status() != 3 || par[0]->pid() != q->pid() ||
                    par[0]->momentum().px() != m.px() || par[0]->momentum().e() != m.e() ||
                    par[0]->end_vertex() != q->production_vertex() ||
                    !par[0]->parents().empty()) /* the parent hangs off the root */
                    out->parents_ok = 0;
            }
            /* one vertex per particle, nothing else (the writer's placeholder
             * production vertices of the parents must not show) */
            if ((int64_t)evt.vertices().size() != c)
                out->parents_ok = 0;
            count.push_back(c);
            if (c > 0 && !out->dump[0]) {
                std::ostringstream os;
                Print::listing(os, evt);
                put(out->dump, sizeof out->dump, os.str());
            }
        }
        auto ri = r.run_info();
        if (ri && !ri->tools().empty()) {
            put(out->tool, sizeof out->tool, ri->tools()[0].name);
            put(out->tool_version, sizeof out->tool_version, ri->tools()[0].version);
            put(out->tool_desc, sizeof out->tool_desc, ri->tools()[0].description);
        }
        if (ri) {
            put(out->model, sizeof out->model, run_attr(ri, "gansim_model"));
            put(out->kind, sizeof out->kind, run_attr(ri, "gansim_model_kind"));
            put(out->seed, sizeof out->seed, run_attr(ri, "gansim_seed"));
            put(out->frame, sizeof out->frame, run_attr(ri, "gansim_frame"));
            out->plane_z = run_attr_f64(ri, "gansim_plane_z_mm");
            out->particles_per_bx = run_attr_f64(ri, "gansim_particles_per_bx");
        }
        r.close();
        out->n_events = (int64_t)evno.size();
        out->n = (int64_t)pid.size();
        out->event_number = copy_out(evno);
        out->count = copy_out(count);
        out->event_weight = copy_out(evw);
        out->pid = copy_out(pid);
        out->p = copy_out(p);
        out->m_gen = copy_out(mg);
        out->m_calc = copy_out(mc);
        out->pos = copy_out(pos);
        out->weight = copy_out(w);
        if (!out->event_number || !out->count || !out->event_weight || !out->pid || !out->p ||
            !out->m_gen || !out->m_calc || !out->pos || !out->weight) {
            h3_free(out);
            std::snprintf(err, errlen, "out of memory");
            return 1;
        }
    } catch (const std::exception &e) {
        h3_free(out);
        std::snprintf(err, errlen, "%s: %s", path, e.what());
        return 1;
    }
    return 0;
}

extern "C" void h3_free(h3_file *f)
{
    std::free(f->event_number);
    std::free(f->count);
    std::free(f->event_weight);
    std::free(f->pid);
    std::free(f->p);
    std::free(f->m_gen);
    std::free(f->m_calc);
    std::free(f->pos);
    std::free(f->weight);
    f->event_number = f->count = nullptr;
    f->event_weight = f->p = f->m_gen = f->m_calc = f->pos = f->weight = nullptr;
    f->pid = nullptr;
}
