// Runs docs/embedding.md's Geant4 sketch against the stand-in classes in
// tests/g4stub/. The Makefile extracts the sketch from the markdown into
// g4_sketch.cpp at build time, so the document and this test cannot drift.
//
//   run_sketch LUXE_MODEL [IMAGE_MODEL]     exit 0 when every check passes
#include "g4_sketch.cpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace {

int failures = 0;

void check(bool ok, const std::string &what)
{
    if (!ok) {
        std::fprintf(stderr, "run_sketch: FAILED: %s\n", what.c_str());
        failures++;
    }
}

// The model's constructor must fail through G4Exception, naming the problem.
void expect_fatal(const std::string &path, const char *needle)
{
    G4Region region("dump");
    try {
        GansimDumpModel model(&region, path, -500 * mm, 1.0);
        check(false, path + ": no G4Exception");
    } catch (const G4StubFatal &e) {
        check(std::strstr(e.what(), needle) != nullptr,
              std::string("message '") + e.what() + "' lacks '" + needle + "'");
    }
}

struct tally {
    long primaries = 0, empty = 0, secondaries = 0, compared = 0;
};

// One primary through DoIt, then the same draw replayed through the C API on
// a handle of our own: every secondary must be that row in Geant4 units and
// the envelope frame.
void one_primary(GansimDumpModel &model, gansim_model *ref, double mean, G4double plane_z,
                 uint64_t engine_seed, tally &t)
{
    const G4double t0 = 7.5 * ns;
    G4Track beam(G4DynamicParticle(G4Electron::Definition(), G4ThreeVector(0, 0, 16.5 * GeV)), t0,
                 G4ThreeVector(0, 0, -600 * mm));
    G4FastTrack track(&beam);
    G4FastStep step;
    check(model.ModelTrigger(track), "ModelTrigger refuses a beam electron");
    g4stub_engine().seed(engine_seed);
    model.DoIt(track, step);
    t.primaries++;
    check(step.killed, "the primary is not killed");
    check(step.announced == (G4int)step.tracks.size(), "announced " +
              std::to_string(step.announced) + " secondaries, created " +
              std::to_string(step.tracks.size()));
    // replay: the same engine state gives the same Poisson count and seed
    g4stub_engine().seed(engine_seed);
    const G4long n = G4Poisson(mean);
    check(n == (G4long)step.tracks.size(), "Poisson count differs from the replay");
    if (n == 0) {
        t.empty++;
        return;
    }
    const uint64_t seed = gansim_seed_from_engine();
    std::vector<float> x((size_t)(n * 6));
    std::vector<int32_t> pdg((size_t)n);
    if (gansim_sample_events(ref, n, seed, x.data(), pdg.data()) != 0)
        throw std::runtime_error(gansim_errmsg());
    for (G4long i = 0; i < n && i < (G4long)step.tracks.size(); i++) {
        const float *r = &x[(size_t)(i * 6)]; // x y px py pz t, mm mm GeV GeV GeV ns
        const G4Track &s = *step.tracks[(size_t)i];
        const G4ThreeVector &p = s.GetDynamicParticle()->GetMomentum();
        const bool same =
            s.GetDynamicParticle()->GetDefinition()->GetPDGEncoding() == pdg[(size_t)i] &&
            p.x() == r[2] * GeV && p.y() == r[3] * GeV && p.z() == r[4] * GeV &&
            s.GetPosition().x() == r[0] * mm && s.GetPosition().y() == r[1] * mm &&
            s.GetPosition().z() == plane_z && s.GetGlobalTime() == t0 + r[5] * ns &&
            step.local[(size_t)i];
        check(same, "secondary " + std::to_string(i) + " is not row " + std::to_string(i) +
                        " in MeV, mm, ns and the envelope frame");
        t.compared++;
    }
    t.secondaries += (long)step.tracks.size();
}

// What a Geant4 worker thread does: attach its model, then run primaries.
void worker(const std::string &path, int id, tally &t, std::string &error)
{
    try {
        G4Region region("dump");
        AttachGansimDumpModel(&region, path, -500 * mm); // owned by the thread from here
        const G4double plane_z = -500 * mm;
        // mostly empty crossings: a Poisson mean of ~0.24 at 12 000 particles per crossing
        const double frac = 2e-5;
        GansimDumpModel model(&region, path, plane_z, frac);
        gansim_model *ref;
        {
            std::lock_guard<std::mutex> hold(gansim_file_lock());
            if (gansim_open(path.c_str(), &ref) != 0)
                throw std::runtime_error(gansim_errmsg());
        }
        const double mean = gansim_particles_per_bx(ref) * frac;
        for (int e = 0; e < 200; e++)
            one_primary(model, ref, mean, plane_z, 1000u * (uint64_t)id + (uint64_t)e, t);
        // one whole crossing
        GansimDumpModel full(&region, path, plane_z, 1.0);
        one_primary(full, ref, gansim_particles_per_bx(ref), plane_z, 99u + (uint64_t)id, t);
        std::lock_guard<std::mutex> hold(gansim_file_lock());
        gansim_close(ref);
    } catch (const std::exception &e) {
        error = e.what();
    }
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: run_sketch LUXE_MODEL [IMAGE_MODEL]\n");
        return 2;
    }
    const std::string path = argv[1];
    expect_fatal("/nonexistent/model.h5", "/nonexistent/model.h5");
    if (argc > 2)
        expect_fatal(argv[2], "is not a particle");

    {
        G4Region region("dump");
        GansimDumpModel model(&region, path, -500 * mm, 1.0);
        check(model.IsApplicable(*G4Electron::Definition()), "not applicable to e-");
        check(!model.IsApplicable(*G4ParticleTable::GetParticleTable()->FindParticle(22)),
              "applicable to gamma");
        G4Track secondary(G4DynamicParticle(G4Electron::Definition(), G4ThreeVector(0, 0, -1)), 0,
                          G4ThreeVector(), 5);
        G4FastTrack track(&secondary);
        check(!model.ModelTrigger(track), "ModelTrigger fires on a generated electron");
    }

    // two worker threads, opening their handles at the same time
    tally t[2];
    std::string err[2];
    std::thread a(worker, path, 1, std::ref(t[0]), std::ref(err[0]));
    std::thread b(worker, path, 2, std::ref(t[1]), std::ref(err[1]));
    a.join();
    b.join();
    for (int w = 0; w < 2; w++) {
        check(err[w].empty(), "worker " + std::to_string(w) + ": " + err[w]);
        check(t[w].empty > 0, "no crossing with a Poisson draw of 0 was exercised");
        check(t[w].compared > 10000, "too few secondaries compared");
        std::printf("worker %d: %ld primaries, %ld with a Poisson draw of 0, %ld secondaries "
                    "(all equal to the C API's rows in MeV, mm, ns)\n",
                    w, t[w].primaries, t[w].empty, t[w].secondaries);
    }
    if (failures) {
        std::fprintf(stderr, "run_sketch: %d checks failed\n", failures);
        return 1;
    }
    std::printf("run_sketch: the docs/embedding.md sketch passed\n");
    return 0;
}
