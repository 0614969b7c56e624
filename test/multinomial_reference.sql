-- Multinomial (softmax) regression against independent references:
--   R 4.2.2 nnet::multinom 7.3-18 (test/reference/multinomial_nnet.R), run to its optimum
--   (maxit 100000, reltol 1e-300: BFGS stops only when it can improve no more), an independent
--   Newton solve of the same likelihoods in numpy (test/reference/multinomial_sklearn.py, which
--   checks nnet's figures against it: log-likelihoods to 2e-15, fitted probabilities to 1e-14,
--   coefficients to 4e-7 relative, the limit of BFGS on the function value) and scikit-learn
--   1.2.1's multi-class metrics on recorded predictions; figures copied from
--   test/reference/multinomial_reference.txt.
-- Data: mn_data, 400 rows, 4 classes (dormant, loyal, occasional, regular; dormant the
--   reference), x1, x2, flag, plan (3 levels) and x3 = 2*x2 + 3*flag, exactly collinear.
-- Tolerances:
--   1e-6   nnet: log-likelihoods (relative), every fitted probability (absolute), AIC, and
--          coefficients and standard errors (relative) on the design without aliased slots
--   1e-7   the Newton solution: coefficients, standard errors, z (relative); p values relative
--          above 1e-8, on a log scale below
--   1e-9   streaming vs in memory; L-BFGS vs Newton log-likelihood (relative)
--   1e-12  the metrics of recorded predictions vs scikit-learn; the stored training metrics vs
--          class_metrics over predict_proba
\set QUIET on
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;
\ir reference/multinomial_data.sql
SELECT plan(54);

CREATE TEMP TABLE ref (model text, class text, feature text, coef float8, std_err float8, stat float8,
                       p_value float8, nnet_coef float8, nnet_se float8);
-- mle: Newton figures on [1, x1, x2, flag, plan=silver, plan=bronze] (plan=gold, the most frequent
-- level and so the reference, and x3 are the
-- slots profenrich aliases), nnet's beside them; bal: the same with case weights n / (K n_k);
-- ridge: l2 = 2.5 on standardized x1, x2, flag, plan=* (nothing aliased), Newton in numpy
INSERT INTO ref VALUES
 ('mle', 'loyal', '(intercept)', 0.22894260810779016, 0.44577531084150435, 0.5135829700294704, 0.60754358859289448, 0.22894263508675966, 0.44577531265759052),
 ('mle', 'loyal', 'x1', 0.98251151911988843, 0.15836626822988989, 6.2040454075336369, 5.5029896649446555e-10, 0.98251152832089717, 0.15836626802999237),
 ('mle', 'loyal', 'x2', 0.03429337986895431, 0.06071424892270337, 0.56483248129469499, 0.57218771175625371, 0.034293372266345282, 0.060714248887269263),
 ('mle', 'loyal', 'flag', 0.67144583503795541, 0.3740347038339592, 1.7951431462253364, 0.072630895973442119, 0.67144585043490734, 0.37403470421328827),
 ('mle', 'loyal', 'plan=silver', -0.69573335755768073, 0.42443212546276526, -1.6392099368046453, 0.10116954507111721, -0.69573335867544228, 0.42443212464091323),
 ('mle', 'loyal', 'plan=bronze', -0.43785031907639366, 0.48876486801012453, -0.89583017875033477, 0.37034346919680783, -0.43785030221924576, 0.48876487063725804),
 ('mle', 'occasional', '(intercept)', 0.74311940168320179, 0.39814818407167646, 1.866439259081041, 0.06197993476482154, 0.74311944929162121, 0.39814818431810067),
 ('mle', 'occasional', 'x1', -0.3780710904747131, 0.13760841326474335, -2.7474416825615608, 0.0060062189151058329, -0.37807106865156342, 0.13760841220853859),
 ('mle', 'occasional', 'x2', 0.0081187140144648035, 0.054672333162523144, 0.14849766865318323, 0.88195002570354541, 0.00811870821224101, 0.054672332924064634),
 ('mle', 'occasional', 'flag', -0.41273310885501346, 0.34317824528995472, -1.2026785337348267, 0.22910074393176305, -0.41273307088892813, 0.34317824480977061),
 ('mle', 'occasional', 'plan=silver', 0.10016839645067208, 0.38596002012687108, 0.25953049856755933, 0.79522595347704839, 0.10016832301311464, 0.38596001828998927),
 ('mle', 'occasional', 'plan=bronze', 0.2583031539927001, 0.44507670782307684, 0.58035648564062492, 0.56167424303666136, 0.25830312745353862, 0.44507670882188682),
 ('mle', 'regular', '(intercept)', 0.5806070912916077, 0.417767441645364, 1.3897854007121877, 0.16459405263830151, 0.58060713758341975, 0.417767441973386),
 ('mle', 'regular', 'x1', 0.47189019332461923, 0.14230952306238373, 3.3159424834679432, 0.00091334624332717362, 0.47189020397184528, 0.14230952229639693),
 ('mle', 'regular', 'x2', 0.15400819255138026, 0.057686448578554192, 2.6697464715939394, 0.007590853878661508, 0.15400818470470828, 0.057686448289778501),
 ('mle', 'regular', 'flag', -0.70159701971328992, 0.36393461421787521, -1.927810634943528, 0.053878684420563476, -0.70159694857308208, 0.36393461270007271),
 ('mle', 'regular', 'plan=silver', -0.58107070344564016, 0.40428382048195599, -1.4372840910450793, 0.15063728739599744, -0.58107077572549903, 0.40428381902855454),
 ('mle', 'regular', 'plan=bronze', -0.47570685978235455, 0.46652806269689101, -1.0196746944490391, 0.30788276702224782, -0.47570684531828034, 0.46652806209179754),
 ('bal', 'loyal', '(intercept)', -0.54834608820887165, 0.38443228528284462, -1.4263788687920111, 0.15375900991146615, -0.54834608244132566, 0.38443228551674036),
 ('bal', 'loyal', 'x1', 0.97607152787470119, 0.13764367868919231, 7.0912920750885284, 1.328655908587616e-12, 0.97607153360772092, 0.1376436790313102),
 ('bal', 'loyal', 'x2', 0.033720165805282754, 0.051877692938166915, 0.64999355012710103, 0.51569638788180239, 0.033720163437550049, 0.051877692941512898),
 ('bal', 'loyal', 'flag', 0.66659856978344478, 0.31881162358462478, 2.0908854021331003, 0.036538337987494736, 0.66659857286012736, 0.31881162372969307),
 ('bal', 'loyal', 'plan=silver', -0.70985121258369521, 0.36297769546416436, -1.9556331462073999, 0.050508385319300311, -0.70985121760748349, 0.36297769568607252),
 ('bal', 'loyal', 'plan=bronze', -0.35267322247460453, 0.41497288888581657, -0.8498705142437526, 0.39539708037346399, -0.35267321126887335, 0.41497288887256828),
 ('bal', 'occasional', '(intercept)', -0.21226289472717408, 0.34459712078914895, -0.61597408080798466, 0.5379116265309607, -0.21226288830307807, 0.34459712055874536),
 ('bal', 'occasional', 'x1', -0.37255579288243273, 0.11772392757185311, -3.1646565024348368, 0.0015526613491051891, -0.37255579304308506, 0.11772392755836281),
 ('bal', 'occasional', 'x2', 0.0084000551960442798, 0.046518337561904231, 0.18057513738245515, 0.85670107253451044, 0.0084000543894807989, 0.046518337482369922),
 ('bal', 'occasional', 'flag', -0.42534548728203486, 0.29639094049803694, -1.4350826194866506, 0.15126355568307814, -0.42534548296023084, 0.29639094010188005),
 ('bal', 'occasional', 'plan=silver', 0.092784163041848486, 0.33241060249868482, 0.27912516130473181, 0.78014877427101792, 0.092784155912782565, 0.33241060195574207),
 ('bal', 'occasional', 'plan=bronze', 0.2369440796270971, 0.37698126963338041, 0.62853011200670139, 0.52965672697272415, 0.23694407715575019, 0.37698126932112574),
 ('bal', 'regular', '(intercept)', -0.22317013326234833, 0.35428334853665505, -0.62991990502556339, 0.52874698896831807, -0.22317013016418821, 0.3542833490905215),
 ('bal', 'regular', 'x1', 0.47096478511076212, 0.11964823464551662, 3.9362451648876862, 8.2766420707170381e-05, 0.47096479085999077, 0.11964823500928243),
 ('bal', 'regular', 'x2', 0.15045649978177614, 0.048383903404063441, 3.1096395535780665, 0.0018731577455720328, 0.15045649750780846, 0.048383903441838724),
 ('bal', 'regular', 'flag', -0.68324934050019959, 0.30994169646885111, -2.2044447335883559, 0.027493082628317032, -0.68324934545112348, 0.30994169710155484),
 ('bal', 'regular', 'plan=silver', -0.56022583020898131, 0.34115639058310965, -1.6421378748070199, 0.1005614340171247, -0.56022582947964561, 0.34115639097077871),
 ('bal', 'regular', 'plan=bronze', -0.39485944668591888, 0.39045777462636722, -1.011273106455016, 0.31188573408851961, -0.39485944067647272, 0.39045777526692316),
 ('ridge', 'loyal', '(intercept)', -0.03367258593508704, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'loyal', 'x1', 0.85741432790998273, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'loyal', 'x2', 0.021771749626520922, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'loyal', 'flag', 0.65470098465573745, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'loyal', 'plan=gold', 0.31686991155930916, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'loyal', 'plan=silver', -0.30328946194390161, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'loyal', 'plan=bronze', -0.068193132025721775, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'occasional', '(intercept)', 0.8714533436561378, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'occasional', 'x1', -0.41549159324729806, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'occasional', 'x2', -0.00047734965236434875, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'occasional', 'flag', -0.38365457759886434, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'occasional', 'plan=gold', -0.11930826161648729, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'occasional', 'plan=silver', 0.0081666263165980253, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'occasional', 'plan=bronze', 0.15906661563800098, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'regular', '(intercept)', 0.29945555560811216, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'regular', 'x1', 0.3840591274953673, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'regular', 'x2', 0.13850926281554687, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'regular', 'flag', -0.67089133254811661, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'regular', 'plan=gold', 0.29590549052916837, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'regular', 'plan=silver', -0.2279346415779501, NULL, NULL, NULL, NULL, NULL),
 ('ridge', 'regular', 'plan=bronze', -0.1332384052175333, NULL, NULL, NULL, NULL, NULL);


-- a and b agree within rel relative tolerance; two NULLs agree
CREATE FUNCTION pg_temp.close(a float8, b float8, rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              ELSE abs(a - b) <= rel * greatest(abs(b), 1e-300) END $$;
-- p values: relative; below 1e-8 on a log scale; one that underflows to 0 must be below 1e-300
CREATE FUNCTION pg_temp.close_p(a float8, b float8, rel float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN a IS NULL OR b IS NULL THEN a IS NULL AND b IS NULL
              WHEN b = 0 THEN a >= 0 AND a < 1e-300
              WHEN b < 1e-8 THEN CASE WHEN a > 0 THEN abs(ln(a) - ln(b)) <= rel * abs(ln(b)) ELSE false END
              ELSE pg_temp.close(a, b, rel) END $$;

CREATE TEMP TABLE fitted AS
SELECT * FROM profenrich.train('mn_full', 'multinomial', 'mn_data', 'cls',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0}');
CREATE TEMP TABLE got AS
SELECT row_number() OVER () AS i, * FROM profenrich.coefficients('mn_full');

SELECT is(n_train, 400::bigint, 'all 400 rows used') FROM fitted;
SELECT is(profenrich.classes('mn_full'), ARRAY['dormant', 'loyal', 'occasional', 'regular'],
          'classes in sort order, the first the reference');
SELECT is((metrics->>'converged')::boolean, true, 'Newton converged') FROM fitted;
SELECT is(metrics->>'solver', 'newton', 'Newton on the full Hessian for 3 x 8 parameters') FROM fitted;
SELECT is((metrics->>'rank')::int, 6, 'rank 6 per class: plan=gold and x3 aliased') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -438.71540087503831, 1e-6),
          'log-likelihood equals nnet on the collinear design (1e-6)') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -438.71540087503791, 1e-6),
          'log-likelihood equals nnet without the aliased columns (1e-6)') FROM fitted;
SELECT ok(pg_temp.close((metrics->'train'->>'aic')::float8, 913.43080175007583, 1e-6),
          'AIC equals nnet''s, 18 parameters (1e-6)') FROM fitted;
SELECT is((SELECT max(greatest(abs(p[1] - f.dormant), abs(p[2] - f.loyal), abs(p[3] - f.occasional),
                               abs(p[4] - f.regular)))
           FROM (SELECT id, profenrich.predict_proba('mn_full', d) AS p FROM mn_data d) q
           JOIN mn_fitted f USING (id)) <= 1e-6, true,
          'every fitted probability of the 400 rows equals nnet''s (1e-6 absolute)');
SELECT is((SELECT array_agg(class || ':' || feature ORDER BY i) FROM got),
          (SELECT array_agg(c || ':' || f ORDER BY ci, fi) FROM
             unnest(ARRAY['loyal', 'occasional', 'regular']) WITH ORDINALITY AS a(c, ci),
             unnest(ARRAY['(intercept)', 'x1', 'x2', 'flag', 'plan=gold', 'plan=silver', 'plan=bronze', 'x3'])
               WITH ORDINALITY AS b(f, fi)),
          'one row per (class, feature), the reference class left out');
SELECT is((SELECT count(*) FROM got WHERE feature IN ('plan=gold', 'x3')
             AND coef IS NULL AND std_err IS NULL AND odds_ratio IS NULL), 6::bigint,
          'plan=gold (the most frequent level) and x3 aliased in every class (NULL), as R aliases them');

-- every coefficient row against the Newton solution (1e-7) and nnet (1e-6)
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'loyal (intercept): coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'loyal' AND g.feature = '(intercept)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'loyal x1: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'loyal' AND g.feature = 'x1';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'loyal x2: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'loyal' AND g.feature = 'x2';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'loyal flag: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'loyal' AND g.feature = 'flag';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'loyal plan=silver: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'loyal' AND g.feature = 'plan=silver';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'loyal plan=bronze: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'loyal' AND g.feature = 'plan=bronze';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'occasional (intercept): coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'occasional' AND g.feature = '(intercept)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'occasional x1: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'occasional' AND g.feature = 'x1';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'occasional x2: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'occasional' AND g.feature = 'x2';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'occasional flag: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'occasional' AND g.feature = 'flag';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'occasional plan=silver: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'occasional' AND g.feature = 'plan=silver';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'occasional plan=bronze: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'occasional' AND g.feature = 'plan=bronze';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'regular (intercept): coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'regular' AND g.feature = '(intercept)';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'regular x1: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'regular' AND g.feature = 'x1';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'regular x2: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'regular' AND g.feature = 'x2';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'regular flag: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'regular' AND g.feature = 'flag';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'regular plan=silver: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'regular' AND g.feature = 'plan=silver';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'regular plan=bronze: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'regular' AND g.feature = 'plan=bronze';

-- class_weight "balanced": weights n / (K n_k); the reported log-likelihood is the data's
SELECT lives_ok($$SELECT profenrich.train('mn_bal', 'multinomial', 'mn_data', 'cls',
    ARRAY['x1', 'x2', 'flag', 'plan'], '{"test_fraction": 0, "class_weight": "balanced"}')$$,
    'balanced class weights train');
SELECT is((SELECT count(*) FROM profenrich.coefficients('mn_bal') g
           JOIN ref r ON r.model = 'bal' AND r.class = g.class AND r.feature = g.feature
           WHERE pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
             AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6)),
          18::bigint, 'balanced: the 18 coefficients and std errors equal Newton''s (1e-7) and nnet''s weighted fit (1e-6)');
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -459.31253131015274, 1e-7),
          'balanced: the unweighted log-likelihood at the weighted fit')
FROM profenrich.models WHERE name = 'mn_bal';

-- ridge
SELECT lives_ok($$SELECT profenrich.train('mn_ridge', 'multinomial', 'mn_data', 'cls',
    ARRAY['x1', 'x2', 'flag', 'plan'], '{"test_fraction": 0, "l2": 2.5}')$$, 'ridge trains');
SELECT is((SELECT count(*) FROM profenrich.coefficients('mn_ridge') g
           JOIN ref r ON r.model = 'ridge' AND r.class = g.class AND r.feature = g.feature
           WHERE pg_temp.close(g.coef, r.coef, 1e-7) AND g.std_err IS NULL), 21::bigint,
          'ridge (l2 2.5): 21 coefficients, nothing aliased, equal the numpy Newton solve (1e-7), no inference');
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -439.1135833433043, 1e-7),
          'ridge: its log-likelihood') FROM profenrich.models WHERE name = 'mn_ridge';

-- L-BFGS on the same likelihood
SELECT lives_ok($$SELECT profenrich.train('mn_lbfgs', 'multinomial', 'mn_data', 'cls',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0, "solver": "lbfgs"}')$$, 'L-BFGS trains');
SELECT is(metrics->>'solver', 'lbfgs', 'solver lbfgs when asked') FROM profenrich.models WHERE name = 'mn_lbfgs';
SELECT is((metrics->>'converged')::boolean, true, 'L-BFGS converged') FROM profenrich.models WHERE name = 'mn_lbfgs';
SELECT ok(pg_temp.close((metrics->'train'->>'log_likelihood')::float8, -438.71540087503865, 1e-9),
          'L-BFGS reaches the maximum log-likelihood (1e-9)') FROM profenrich.models WHERE name = 'mn_lbfgs';
SELECT is((SELECT max(greatest(abs(p[1] - f.dormant), abs(p[2] - f.loyal), abs(p[3] - f.occasional),
                               abs(p[4] - f.regular)))
           FROM (SELECT id, profenrich.predict_proba('mn_lbfgs', d) AS p FROM mn_data d) q
           JOIN mn_fitted f USING (id)) <= 1e-6, true, 'L-BFGS: every fitted probability equals nnet''s (1e-6)');
SELECT is((SELECT count(*) FROM profenrich.coefficients('mn_lbfgs') WHERE coef IS NOT NULL AND std_err IS NULL),
          18::bigint, 'L-BFGS: no Hessian, no inference');

-- streaming: one multinomial_step pass per iteration gives the in-memory model
SET LOCAL profenrich.max_train_memory = '64kB';
SELECT lives_ok($$SELECT profenrich.train('mn_stream', 'multinomial', 'mn_data', 'cls',
    ARRAY['x1', 'x2', 'flag', 'plan', 'x3'], '{"test_fraction": 0}')$$, 'streaming trains');
RESET profenrich.max_train_memory;
SELECT is(metrics->>'path', 'streaming', 'over the memory budget: the streaming path')
FROM profenrich.models WHERE name = 'mn_stream';
SELECT is((SELECT count(*) FROM profenrich.coefficients('mn_full') m JOIN profenrich.coefficients('mn_stream') s
           USING (class, feature)
           WHERE pg_temp.close(s.coef, m.coef, 1e-9) AND pg_temp.close(s.std_err, m.std_err, 1e-9)),
          24::bigint, 'streaming: every coefficient and std error as in memory (1e-9)');
SELECT ok(pg_temp.close((s.metrics->'train'->>'log_likelihood')::float8, (m.metrics->'train'->>'log_likelihood')::float8, 1e-9)
          AND pg_temp.close((s.metrics->'train'->>'macro_f1')::float8, (m.metrics->'train'->>'macro_f1')::float8, 1e-12)
          AND pg_temp.close((s.metrics->'train'->>'auc')::float8, (m.metrics->'train'->>'auc')::float8, 1e-9)
          AND s.metrics->'train'->'confusion_matrix' = m.metrics->'train'->'confusion_matrix',
          'streaming: training metrics as in memory (every row is in the sample)')
FROM profenrich.models s, profenrich.models m WHERE s.name = 'mn_stream' AND m.name = 'mn_full';

-- metrics of recorded predictions (probabilities in tenths: 10 rows tie for the most probable
-- class, the first wins as numpy's argmax; AUC ties; "occasional" never predicted; a
-- probability 0 of the true class, clipped to eps in the log loss) against scikit-learn:
-- log_loss, accuracy_score, f1_score(average='macro'/'weighted'), roc_auc_score(multi_class='ovr',
-- average='macro'), precision_recall_fscore_support(zero_division=0), confusion_matrix
CREATE TEMP TABLE met AS
SELECT profenrich.class_metrics(ARRAY[p_dormant, p_loyal, p_occasional, p_regular], actual,
                                ARRAY['dormant', 'loyal', 'occasional', 'regular']) AS m
FROM mn_metric_sample;
CREATE TEMP TABLE met_ref (class text, precision float8, recall float8, f1 float8, support float8, auc float8);
INSERT INTO met_ref VALUES
 ('dormant', 0.31034482758620691, 0.47368421052631576, 0.375, 19, 0.45892169448010267),
 ('loyal', 0.23809523809523808, 0.33333333333333331, 0.27777777777777779, 15, 0.39407407407407402),
 ('occasional', 0, 0, 0, 6, 0.41666666666666657),
 ('regular', 0.20000000000000001, 0.10000000000000001, 0.13333333333333333, 20, 0.48499999999999993);
SELECT ok(pg_temp.close((m->>'logloss')::float8, 5.3634327717072061, 1e-12), 'logloss as log_loss') FROM met;
SELECT ok(pg_temp.close((m->>'accuracy')::float8, 0.26666666666666666, 1e-12), 'accuracy as accuracy_score') FROM met;
SELECT ok(pg_temp.close((m->>'macro_f1')::float8, 0.19652777777777777, 1e-12), 'macro_f1 as f1_score macro') FROM met;
SELECT ok(pg_temp.close((m->>'weighted_f1')::float8, 0.2326388888888889, 1e-12), 'weighted_f1 as f1_score weighted') FROM met;
SELECT ok(pg_temp.close((m->>'auc')::float8, 0.43866560880521077, 1e-12), 'auc as roc_auc_score ovr macro') FROM met;
SELECT is((SELECT count(*) FROM met, met_ref r
           WHERE pg_temp.close((m->'per_class'->r.class->>'precision')::float8, r.precision, 1e-12)
             AND pg_temp.close((m->'per_class'->r.class->>'recall')::float8, r.recall, 1e-12)
             AND pg_temp.close((m->'per_class'->r.class->>'f1')::float8, r.f1, 1e-12)
             AND (m->'per_class'->r.class->>'support')::float8 = r.support
             AND pg_temp.close((m->'per_class'->r.class->>'auc')::float8, r.auc, 1e-12)), 4::bigint,
          'per class: precision, recall, f1, support, one-vs-rest AUC as scikit-learn');
SELECT is(m->'confusion_matrix', to_jsonb(ARRAY[[9, 7, 0, 3], [6, 5, 0, 4], [3, 2, 0, 1], [11, 7, 0, 2]]), 'confusion matrix as confusion_matrix') FROM met;
SELECT is((m->>'n')::int, 60, 'sixty predictions') FROM met;

-- the stored training metrics are these metrics of the model's own probabilities
SELECT ok(pg_temp.close((f.metrics->'train'->>'logloss')::float8, (q.m->>'logloss')::float8, 1e-12)
          AND pg_temp.close((f.metrics->'train'->>'auc')::float8, (q.m->>'auc')::float8, 1e-12)
          AND pg_temp.close((f.metrics->'train'->>'weighted_f1')::float8, (q.m->>'weighted_f1')::float8, 1e-12)
          AND f.metrics->'train'->'per_class' = q.m->'per_class'
          AND f.metrics->'train'->'confusion_matrix' = q.m->'confusion_matrix',
          'training metrics equal class_metrics over predict_proba on the training rows')
FROM profenrich.models f,
     (SELECT profenrich.class_metrics(profenrich.predict_proba('mn_full', d), cls, profenrich.classes('mn_full')) AS m
      FROM mn_data d) q
WHERE f.name = 'mn_full';

SELECT * FROM finish();
ROLLBACK;
