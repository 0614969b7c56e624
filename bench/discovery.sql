-- Issue 13 targets, serial plans, 1M rows x 20 float8 (and the boolean label):
--   profile_summary of f1..f20 <= 3x SELECT sum(f1+...+f20);
--   feature_report of f1..f20 against the binary label <= 4x the same scan.
\set QUIET on
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE scan AS SELECT bench.time_ms(
  'SELECT sum(f1+f2+f3+f4+f5+f6+f7+f8+f9+f10+f11+f12+f13+f14+f15+f16+f17+f18+f19+f20) FROM bench.t') AS ms;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'discovery: profile_summary', 'profile_summary(f1..f20)', bench.time_ms(
  $$SELECT count(*) FROM profenrich.profile_summary('bench.t',
        ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
              'f16','f17','f18','f19','f20'])$$),
  'SELECT sum(f1+...+f20)', ms, '<= 3' FROM scan;
INSERT INTO bench.results (bench, measured, ms, baseline, baseline_ms, goal)
SELECT 'discovery: feature_report', 'feature_report(label, f1..f20)', bench.time_ms(
  $$SELECT count(*) FROM profenrich.feature_report('bench.t', 'label',
        ARRAY['f1','f2','f3','f4','f5','f6','f7','f8','f9','f10','f11','f12','f13','f14','f15',
              'f16','f17','f18','f19','f20'])$$),
  'SELECT sum(f1+...+f20)', ms, '<= 4' FROM scan;
RESET max_parallel_workers_per_gather;
