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
-- mle: Newton figures on [1, x1, x2, flag, plan=gold, plan=silver] (plan=bronze and x3 are the
-- slots profenrich aliases), nnet's beside them; bal: the same with case weights n / (K n_k);
-- ridge: l2 = 2.5 on standardized x1, x2, flag, plan=* (nothing aliased), Newton in numpy
INSERT INTO ref VALUES
 ('mle', 'loyal', '(intercept)', -0.20890771096860447, 0.5287678315928005, -0.39508400187529275, 0.69278089514592067, -0.20890771087231516, 0.52876783074972433),
 ('mle', 'loyal', 'x1', 0.98251151911988854, 0.15836626822988986, 6.2040454075336386, 5.5029896649446152e-10, 0.98251151895206545, 0.15836626792035391),
 ('mle', 'loyal', 'x2', 0.034293379868954435, 0.060714248922703259, 0.5648324812946981, 0.57218771175625149, 0.034293381175443699, 0.060714248827502829),
 ('mle', 'loyal', 'flag', 0.67144583503795552, 0.37403470383395937, 1.7951431462253358, 0.07263089597344223, 0.67144583528321478, 0.37403470326698535),
 ('mle', 'loyal', 'plan=gold', 0.43785031907639416, 0.48876486801012475, 0.89583017875033544, 0.37034346919680761, 0.43785031930641638, 0.4887648672083042),
 ('mle', 'loyal', 'plan=silver', -0.25788303848128685, 0.50964873313674552, -0.5060015295124719, 0.61285557593507356, -0.25788303828556897, 0.50964873218038598),
 ('mle', 'occasional', '(intercept)', 1.0014225556759013, 0.45201846774179244, 2.2154461092681421, 0.026729459441841824, 1.0014225553422742, 0.45201846755565828),
 ('mle', 'occasional', 'x1', -0.37807109047471305, 0.13760841326474332, -2.7474416825615613, 0.0060062189151058286, -0.37807109019458396, 0.13760841329860479),
 ('mle', 'occasional', 'x2', 0.0081187140144649249, 0.054672333162523075, 0.14849766865318564, 0.88195002570354353, 0.0081187113219455178, 0.054672333177340764),
 ('mle', 'occasional', 'flag', -0.41273310885501335, 0.34317824528995478, -1.2026785337348262, 0.22910074393176305, -0.41273310906898519, 0.343178245374334),
 ('mle', 'occasional', 'plan=gold', -0.25830315399269993, 0.44507670782307679, -0.58035648564062459, 0.56167424303666158, -0.25830315443147234, 0.44507670782717729),
 ('mle', 'occasional', 'plan=silver', -0.15813475754202808, 0.44891586346905155, -0.35225923254309316, 0.72464385885378158, -0.15813475772657559, 0.4489158633012611),
 ('mle', 'regular', '(intercept)', 0.10490023150925223, 0.49761734810758013, 0.21080501294455234, 0.83303942668194608, 0.10490023154149329, 0.49761734730580476),
 ('mle', 'regular', 'x1', 0.47189019332461929, 0.1423095230623837, 3.3159424834679441, 0.00091334624332716917, 0.47189019303938751, 0.14230952281687201),
 ('mle', 'regular', 'x2', 0.15400819255138043, 0.057686448578554039, 2.6697464715939492, 0.0075908538786612825, 0.15400819313697617, 0.057686448504282242),
 ('mle', 'regular', 'flag', -0.7015970197132898, 0.36393461421787526, -1.9278106349435273, 0.053878684420563552, -0.70159701964302235, 0.36393461368783953),
 ('mle', 'regular', 'plan=gold', 0.47570685978235472, 0.46652806269689129, 1.0196746944490389, 0.30788276702224804, 0.47570685996775791, 0.46652806191723678),
 ('mle', 'regular', 'plan=silver', -0.10536384366328549, 0.48590121438295986, -0.21684210811674093, 0.82833139506399167, -0.10536384376183482, 0.48590121343221321),
 ('bal', 'loyal', '(intercept)', -0.90101931068347663, 0.45650268230150126, -1.9737437382424632, 0.048410889099501517, -0.90101932612359892, 0.45650268249085946),
 ('bal', 'loyal', 'x1', 0.97607152787470119, 0.13764367868919231, 7.0912920750885284, 1.328655908587616e-12, 0.97607152985036238, 0.13764367879257761),
 ('bal', 'loyal', 'x2', 0.033720165805282802, 0.051877692938166957, 0.64999355012710147, 0.51569638788180194, 0.033720166712134562, 0.051877692965753501),
 ('bal', 'loyal', 'flag', 0.66659856978344512, 0.31881162358462484, 2.0908854021331011, 0.03653833798749466, 0.6665985728627386, 0.31881162376723288),
 ('bal', 'loyal', 'plan=gold', 0.35267322247460436, 0.41497288888581546, 0.84987051424375448, 0.39539708037346299, 0.35267322896379194, 0.41497288894404188),
 ('bal', 'loyal', 'plan=silver', -0.35717799010909068, 0.43982021790489656, -0.81209997987478644, 0.41673426473749464, -0.35717797704145882, 0.43982021783195596),
 ('bal', 'occasional', '(intercept)', 0.024681184899922642, 0.38079600931139873, 0.064814715218665594, 0.94832152503651357, 0.024681174718409707, 0.38079600894700955),
 ('bal', 'occasional', 'x1', -0.37255579288243279, 0.11772392757185311, -3.1646565024348372, 0.0015526613491051863, -0.37255579038084496, 0.11772392744580575),
 ('bal', 'occasional', 'x2', 0.0084000551960443023, 0.046518337561904252, 0.18057513738245554, 0.85670107253451011, 0.0084000562583666904, 0.046518337544934882),
 ('bal', 'occasional', 'flag', -0.4253454872820347, 0.29639094049803688, -1.4350826194866504, 0.15126355568307823, -0.42534548683439027, 0.29639094037530339),
 ('bal', 'occasional', 'plan=gold', -0.23694407962709702, 0.37698126963338008, -0.62853011200670172, 0.52965672697272392, -0.23694406717082114, 0.3769812692332824),
 ('bal', 'occasional', 'plan=silver', -0.14415991658524857, 0.38055189175671478, -0.37881802641887641, 0.70482300017611244, -0.14415990902944267, 0.38055189152847441),
 ('bal', 'regular', '(intercept)', -0.61802957994826779, 0.4243011568425874, -1.4565823589718663, 0.1452317001951027, -0.61802959092502419, 0.42430115659014161),
 ('bal', 'regular', 'x1', 0.47096478511076206, 0.11964823464551662, 3.9362451648876857, 8.2766420707170598e-05, 0.47096478254982288, 0.11964823457007749),
 ('bal', 'regular', 'x2', 0.15045649978177619, 0.048383903404063559, 3.1096395535780603, 0.001873157745572072, 0.15045650051111298, 0.048383903401916034),
 ('bal', 'regular', 'flag', -0.68324934050019948, 0.30994169646885122, -2.204444733588355, 0.027493082628317088, -0.68324934007028459, 0.30994169645462621),
 ('bal', 'regular', 'plan=gold', 0.39485944668591905, 0.39045777462636666, 1.0112731064550178, 0.31188573408851883, 0.39485945530255462, 0.39045777443670093),
 ('bal', 'regular', 'plan=silver', -0.16536638352306227, 0.41449418187139447, -0.39895948062877917, 0.68992306058037056, -0.16536637132509927, 0.41449418162495816),
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
SELECT is((metrics->>'rank')::int, 6, 'rank 6 per class: plan=bronze and x3 aliased') FROM fitted;
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
SELECT is((SELECT count(*) FROM got WHERE feature IN ('plan=bronze', 'x3')
             AND coef IS NULL AND std_err IS NULL AND odds_ratio IS NULL), 6::bigint,
          'plan=bronze and x3 aliased in every class (NULL), as R aliases them');

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
          'loyal plan=gold: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'loyal' AND g.feature = 'plan=gold';
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
          'occasional plan=gold: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'occasional' AND g.feature = 'plan=gold';
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
          'regular plan=gold: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'regular' AND g.feature = 'plan=gold';
SELECT ok(pg_temp.close(g.coef, r.coef, 1e-7) AND pg_temp.close(g.std_err, r.std_err, 1e-7)
          AND pg_temp.close(g.stat, r.stat, 1e-7) AND pg_temp.close_p(g.p_value, r.p_value, 1e-7)
          AND pg_temp.close(g.odds_ratio, exp(r.coef), 1e-7)
          AND pg_temp.close(g.coef, r.nnet_coef, 1e-6) AND pg_temp.close(g.std_err, r.nnet_se, 1e-6),
          'regular plan=silver: coef, std_err, z, p, odds ratio')
FROM got g JOIN ref r ON r.model = 'mle' AND r.class = g.class AND r.feature = g.feature
WHERE g.class = 'regular' AND g.feature = 'plan=silver';

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
