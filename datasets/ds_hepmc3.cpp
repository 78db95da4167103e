// ds_hepmc3 — HepMC3 ASCII output (the layout is documented in ds_hepmc3.h).
// C++ only because HepMC3 is; every entry point catches what HepMC3 or the
// standard library may throw and turns it into a gs_status.
// ds.h and gs_core.h are C headers without extern "C" of their own.
extern "C" {
#include "datasets/ds.h"
}
#include "datasets/ds_hepmc3.h"
#include "core/gs_pdg.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <HepMC3/Attribute.h>
#include <HepMC3/GenEvent.h>
#include <HepMC3/GenParticle.h>
#include <HepMC3/GenRunInfo.h>
#include <HepMC3/GenVertex.h>
#include <HepMC3/Units.h>
#include <HepMC3/WriterAscii.h>

namespace {

// c in mm/ns: HepMC3 keeps the time component of a position as c*t in the
// event's length unit (HepMC3 user manual, "Units").
constexpr double c_mm_per_ns = 299.792458;

struct unit_entry {
    const char *name;
    double factor;            // to mm, GeV or ns
};
constexpr unit_entry length_units[] = {{"mm", 1.0}, {"cm", 10.0}, {"m", 1000.0}, {"um", 1e-3}};
constexpr unit_entry momentum_units[] = {{"GeV", 1.0}, {"MeV", 1e-3}, {"keV", 1e-6},
                                         {"TeV", 1e3}, {"GeV/c", 1.0}, {"MeV/c", 1e-3},
                                         {"keV/c", 1e-6}, {"TeV/c", 1e3}};
constexpr unit_entry time_units[] = {{"ns", 1.0}, {"ps", 1e-3}, {"us", 1e3}, {"ms", 1e6},
                                     {"s", 1e9}};

enum col { C_X, C_Y, C_Z, C_T, C_PX, C_PY, C_PZ, C_N };
constexpr const char *col_names[C_N] = {"x", "y", "z", "t", "px", "py", "pz"};

// Where each known column sits in the table, and its factor to mm/GeV/ns.
struct layout {
    int64_t idx[C_N];
    double factor[C_N];
};

template <size_t N>
int unit_factor(const unit_entry (&table)[N], const char *path, const char *colname,
                const char *unit, const char *kind, double *out)
{
    for (const unit_entry &u : table)
        if (!std::strcmp(u.name, unit)) {
            *out = u.factor;
            return GS_OK;
        }
    std::string known;
    for (const unit_entry &u : table)
        known += std::string(known.empty() ? "" : ", ") + u.name;
    return gs_error(GS_ERR_ARG, "%s: column %s has unit '%s', expected a %s (%s)", path, colname,
                    unit, kind, known.c_str());
}

int find_layout(const char *path, const ds_events *ev, layout *L)
{
    for (int c = 0; c < C_N; c++)
        L->idx[c] = -1;
    for (int64_t j = 0; j < ev->f; j++) {
        int c = 0;
        while (c < C_N && std::strcmp(ev->columns[j], col_names[c]))
            c++;
        if (c == C_N)
            return gs_error(GS_ERR_ARG,
                            "%s: column '%s' has no place in a HepMC3 particle (the table may "
                            "hold x, y, z, t, px, py, pz)",
                            path, ev->columns[j]);
        L->idx[c] = j;
    }
    for (int c = 0; c < C_N; c++)
        if (L->idx[c] < 0 && c != C_Z)
            return gs_error(GS_ERR_ARG, "%s: the events have no column %s (HepMC3 output needs "
                                        "x, y, t, px, py, pz)",
                            path, col_names[c]);
    if (!ev->pdg)
        return gs_error(GS_ERR_ARG, "%s: the events have no species (/pdg): HepMC3 particles "
                                    "need PDG ids",
                        path);
    for (int c = 0; c < C_N; c++) {
        L->factor[c] = 1.0;
        if (L->idx[c] < 0)
            continue;
        const char *u = ev->units ? ev->units[L->idx[c]] : nullptr;
        if (!u || !*u)
            return gs_error(GS_ERR_ARG, "%s: column %s has no unit; HepMC3 output converts to "
                                        "mm, GeV and ns and needs the units of the data",
                            path, col_names[c]);
        int rc = c <= C_Z  ? unit_factor(length_units, path, col_names[c], u, "length",
                                         &L->factor[c])
                 : c == C_T ? unit_factor(time_units, path, col_names[c], u, "time",
                                          &L->factor[c])
                            : unit_factor(momentum_units, path, col_names[c], u, "momentum",
                                          &L->factor[c]);
        if (rc)
            return rc;
    }
    return GS_OK;
}

// Everything that can be wrong with the input, checked before a file exists.
int validate(const char *path, const ds_events *ev, const int64_t *bx, int64_t n_bx,
             layout *L)
{
    if (!path || !ev || (!ev->x && ev->n > 0) || ev->n < 0 || ev->f < 1 || !ev->columns)
        return gs_error(GS_ERR_ARG, "ds_hepmc3_write: bad arguments");
    if (n_bx < 1 || n_bx > INT32_MAX) /* HepMC3 event numbers are int */
        return gs_error(GS_ERR_ARG, "%s: %lld bunch crossings, expected 1 ... 2^31 - 1", path,
                        (long long)n_bx);
    if (!bx && n_bx != 1)
        return gs_error(GS_ERR_ARG, "%s: %lld crossings but no crossing index per row", path,
                        (long long)n_bx);
    int rc = find_layout(path, ev, L);
    if (rc)
        return rc;
    for (int64_t i = 0; i < ev->n; i++) {
        if (!gs_pdg_mass(ev->pdg[i], nullptr))
            return gs_error(GS_ERR_ARG,
                            "%s: row %lld: PDG id %d is not in gansim's mass table (gamma, e, "
                            "mu, tau, neutrinos, pi, K, p, n, Lambda, d, alpha); HepMC3 needs the "
                            "energy",
                            path, (long long)i, (int)ev->pdg[i]);
        for (int64_t j = 0; j < ev->f; j++)
            if (!std::isfinite(ev->x[i * ev->f + j]))
                return gs_error(GS_ERR_NUMERIC, "%s: row %lld, column %s is not finite", path,
                                (long long)i, ev->columns[j]);
        if (ev->weights && !std::isfinite(ev->weights[i]))
            return gs_error(GS_ERR_NUMERIC, "%s: row %lld: weight is not finite", path,
                            (long long)i);
        if (bx && (bx[i] < 0 || bx[i] >= n_bx || (i > 0 && bx[i] < bx[i - 1])))
            return gs_error(GS_ERR_ARG,
                            "%s: row %lld: crossing %lld is out of order or outside [0, %lld)",
                            path, (long long)i, (long long)bx[i], (long long)n_bx);
    }
    return GS_OK;
}

std::shared_ptr<HepMC3::GenRunInfo> make_run_info(const ds_events *ev,
                                                  const ds_hepmc3_opts *o)
{
    using namespace HepMC3;
    auto ri = std::make_shared<GenRunInfo>();
    std::string desc = "generative fast simulation";
    if (o && o->model)
        desc += std::string("; model ") + o->model;
    if (o && o->model_kind)
        desc += std::string(" (") + o->model_kind + ")";
    desc += "; seed " + std::to_string(o ? o->seed : 0);
    ri->tools().push_back(GenRunInfo::ToolInfo{"gansim", GANSIM_VERSION, desc});
    ri->set_weight_names({"default"});
    if (o && o->model)
        ri->add_attribute("gansim_model", std::make_shared<StringAttribute>(o->model));
    if (o && o->model_kind)
        ri->add_attribute("gansim_model_kind", std::make_shared<StringAttribute>(o->model_kind));
    ri->add_attribute("gansim_seed",
                      std::make_shared<StringAttribute>(std::to_string(o ? o->seed : 0)));
    if (ev->particles_per_bx > 0)
        ri->add_attribute("gansim_particles_per_bx",
                          std::make_shared<DoubleAttribute>(ev->particles_per_bx));
    const double z = o ? o->plane_z_mm : 0.0;
    char frame[512];
    std::snprintf(frame, sizeof frame,
                  "vertex = production point on the scoring plane: x, y in mm as in the "
                  "training data (beam axis at x = y = 0), z = %.9g mm (the plane), c*t in mm "
                  "with t = 0 the training data's time origin; one vertex per particle with a "
                  "status-3 copy as its parent; momenta in GeV",
                  z);
    ri->add_attribute("gansim_frame", std::make_shared<StringAttribute>(frame));
    ri->add_attribute("gansim_plane_z_mm", std::make_shared<DoubleAttribute>(z));
    return ri;
}

int write_file(const char *tmp, const char *path, const ds_events *ev, const int64_t *bx,
               int64_t n_bx, const ds_hepmc3_opts *o, const layout &L, ds_hepmc3_stats *st)
{
    using namespace HepMC3;
    std::ofstream out(tmp, std::ios::out | std::ios::trunc);
    if (!out.is_open())
        return gs_error(GS_ERR_IO, "%s: cannot create: %s", path, std::strerror(errno));
    auto ri = make_run_info(ev, o);
    WriterAscii w(out, ri);
    const double z_plane = o ? o->plane_z_mm : 0.0;
    const int64_t f = ev->f;
    int64_t row = 0;
    /* HepMC3's GenEvent::add_particle files every particle that joins an
     * event without a production vertex under the event's root vertex,
     * after a linear search of the root's outgoing particles for a
     * duplicate: quadratic in the crossing's particles (building a crossing
     * of 12 000: 0.066 s, of 120 000: 6.1 s; with the placeholders below
     * 0.018 s and 0.35 s). The status-3 parents therefore get a placeholder
     * production vertex of their own that never joins the event (id 0, no
     * incoming particle): WriterAscii writes such a particle with parent 0,
     * the root, as it does one without a production vertex, so the file is
     * the same byte for byte. Kept alive until the event is written (a
     * particle holds its production vertex by weak pointer). */
    std::vector<std::shared_ptr<GenVertex>> origins;
    for (int64_t b = 0; b < n_bx; b++) {
        int64_t end = row;
        while (end < ev->n && (!bx || bx[end] == b))
            end++;
        GenEvent evt(ri, Units::GEV, Units::MM);
        evt.set_event_number((int)b);
        evt.weights() = std::vector<double>{1.0};
        evt.reserve((size_t)(2 * (end - row)), (size_t)(end - row));
        origins.clear();
        origins.reserve((size_t)(end - row));
        for (int64_t i = row; i < end; i++) {
            const float *r = ev->x + i * f;
            auto v = [&](int c) { return (double)r[L.idx[c]] * L.factor[c]; };
            const double px = v(C_PX), py = v(C_PY), pz = v(C_PZ);
            double m = 0;
            gs_pdg_mass(ev->pdg[i], &m); // known: checked in validate()
            const FourVector p(px, py, pz, std::sqrt(px * px + py * py + pz * pz + m * m));
            const FourVector pos(v(C_X), v(C_Y), L.idx[C_Z] >= 0 ? v(C_Z) : z_plane,
                                 c_mm_per_ns * v(C_T));
            auto vtx = std::make_shared<GenVertex>(pos);
            auto in = std::make_shared<GenParticle>(p, ev->pdg[i], 3);
            auto fs = std::make_shared<GenParticle>(p, ev->pdg[i], 1);
            in->set_generated_mass(m);
            fs->set_generated_mass(m);
            origins.push_back(std::make_shared<GenVertex>());
            origins.back()->add_particle_out(in);
            vtx->add_particle_in(in);
            vtx->add_particle_out(fs);
            evt.add_vertex(vtx);
            // attributes attach only to particles that belong to an event
            if (ev->weights)
                fs->add_attribute("weight", std::make_shared<DoubleAttribute>(ev->weights[i]));
        }
        if (st) {
            st->events++;
            st->particles += end - row;
            st->empty += end == row;
        }
        row = end;
        w.write_event(evt);
        if (w.failed())
            return gs_error(GS_ERR_IO, "%s: write failed at event %lld: %s", path, (long long)b,
                            std::strerror(errno));
        if (o && o->progress)
            o->progress(o->user, b + 1, n_bx);
        if (o && o->stop && *o->stop) {
            if (st)
                st->stopped = *o->stop;
            return GS_OK; /* the caller removes the temporary */
        }
    }
    w.close(); // writes the end line; closes `out` too, when it is an ofstream
    if (out.is_open())
        out.close();
    if (out.fail())
        return gs_error(GS_ERR_IO, "%s: write failed: %s", path, std::strerror(errno));
    return GS_OK;
}

} // namespace

extern "C" int ds_hepmc3_write(const char *path, const ds_events *ev, const int64_t *bx,
                               int64_t n_bx, const ds_hepmc3_opts *opts, ds_hepmc3_stats *stats)
{
    if (stats)
        *stats = ds_hepmc3_stats{0, 0, 0, 0};
    layout L;
    int rc = validate(path, ev, bx, n_bx, &L);
    if (rc)
        return rc;
    char tmp[4096];
    if ((rc = gs_tmp_path(tmp, sizeof tmp, path)))
        return rc;
    ds_hepmc3_stats st{0, 0, 0, 0};
    try {
        rc = write_file(tmp, path, ev, bx, n_bx, opts, L, &st);
    } catch (const std::bad_alloc &) {
        rc = gs_error(GS_ERR_NOMEM, "%s: out of memory", path);
    } catch (const std::exception &e) {
        rc = gs_error(GS_ERR_IO, "%s: HepMC3: %s", path, e.what());
    } catch (...) {
        rc = gs_error(GS_ERR_IO, "%s: HepMC3 failed", path);
    }
    if (rc || st.stopped) {
        gs_discard(tmp);
        if (stats)
            *stats = ds_hepmc3_stats{0, 0, 0, st.stopped};
        return rc;
    }
    if (stats)
        *stats = st;
    return gs_commit(tmp, path);
}
