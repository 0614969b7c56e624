-- profenrich demo: the main job on the demo profiles.
-- Train a model of next-90-day spend from profile and behaviour columns, inspect it,
-- and score every profile in SQL, as an analyst or a BI tool would.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\echo
\echo '== 1. Train: spend in the next 90 days from profile and behaviour columns'
SELECT name, version, algorithm, n_train, n_test, deployed
FROM profenrich.train('spend_90d', 'linear', 'demo.profiles', 'spend_next_90d',
     ARRAY['plan', 'country', 'age', 'newsletter', 'tenure_days', 'visits_90d', 'views_90d',
           'purchases_90d', 'purchases_total', 'spend_total', 'avg_order_value',
           'days_since_last_visit'],
     '{"seed": 1}');

\echo
\echo '== 2. How good is it? (held-out 20% of profiles, split by profile_id)'
SELECT round((metrics->'test'->>'r2')::numeric, 3) AS test_r2,
       round((metrics->'test'->>'rmse')::numeric, 2) AS test_rmse,
       round((metrics->'test'->>'mae')::numeric, 2) AS test_mae,
       round((metrics->'train'->>'r2')::numeric, 3) AS train_r2,
       (SELECT round(avg(spend_next_90d)::numeric, 2) FROM demo.profiles) AS mean_spend
FROM profenrich.models WHERE name = 'spend_90d' AND deployed;

\echo
\echo '== 3. What drives it? Coefficients on the original scale, with R-style inference'
SELECT feature, round(coef::numeric, 4) AS coef, round(std_err::numeric, 4) AS std_err,
       round(stat::numeric, 2) AS t, to_char(p_value, '9.9EEEE') AS p_value
FROM profenrich.coefficients('spend_90d')
ORDER BY abs(stat) DESC NULLS LAST LIMIT 10;

\echo
\echo '== 4. Score in SQL: the 10 profiles expected to spend most'
SELECT profile_id, plan, country, purchases_90d, round(spend_total::numeric, 2) AS spend_to_date,
       round(profenrich.score('spend_90d', p)::numeric, 2) AS predicted_90d,
       round(spend_next_90d::numeric, 2) AS actual_90d
FROM demo.profiles p
ORDER BY profenrich.score('spend_90d', p) DESC LIMIT 10;

\echo
\echo '== 5. A BI view: predicted and actual spend by plan'
SELECT plan, count(*) AS profiles,
       round(avg(profenrich.score('spend_90d', p))::numeric, 2) AS avg_predicted,
       round(avg(spend_next_90d)::numeric, 2) AS avg_actual
FROM demo.profiles p GROUP BY plan ORDER BY avg_predicted DESC;

\echo
\echo '== 6. The registry: versions, deployment and rollback'
SELECT version FROM profenrich.train('spend_90d', 'linear', 'demo.profiles', 'spend_next_90d',
     ARRAY['plan', 'visits_90d', 'purchases_90d', 'spend_total'], '{"seed": 1, "l2": 10}');
SELECT name, version, deployed, round((metrics->'test'->>'r2')::numeric, 3) AS test_r2,
       options->>'l2' AS l2
FROM profenrich.models WHERE name = 'spend_90d' ORDER BY version;
SELECT profenrich.rollback('spend_90d') AS rolled_back_to;

\echo
\echo '== 7. Churn propensity: logistic regression on the same profiles'
\echo '      (churned = active before 2024-10-03, no event in the last 90 days of the window)'
SELECT name, version, algorithm, n_train, n_test
FROM profenrich.train('churn', 'logistic', 'demo.profiles', 'churned',
     ARRAY['plan', 'country', 'age', 'newsletter', 'tenure_days', 'visits_90d', 'views_90d',
           'purchases_90d', 'spend_total', 'days_since_last_visit'],
     '{"seed": 1}');

\echo
\echo '== 8. How good is it? (held-out profiles)'
SELECT round((metrics->'test'->>'auc')::numeric, 3) AS auc,
       round((metrics->'test'->>'logloss')::numeric, 3) AS logloss,
       round((metrics->'test'->>'brier')::numeric, 3) AS brier,
       round((metrics->'test'->>'accuracy')::numeric, 3) AS accuracy,
       round((metrics->'test'->>'precision')::numeric, 3) AS precision,
       round((metrics->'test'->>'recall')::numeric, 3) AS recall,
       round((metrics->'test'->>'base_rate')::numeric, 3) AS base_rate,
       metrics->>'iterations' AS iterations
FROM profenrich.models WHERE name = 'churn' AND deployed;

\echo
\echo '== 9. Odds ratios of the strongest factors'
SELECT feature, round(coef::numeric, 4) AS coef, round(odds_ratio::numeric, 3) AS odds_ratio,
       round(stat::numeric, 1) AS z, to_char(p_value, '9.9EEEE') AS p_value
FROM profenrich.coefficients('churn') WHERE feature <> '(intercept)'
ORDER BY abs(stat) DESC NULLS LAST LIMIT 6;

\echo
\echo '== 10. Lift: deciles of profiles by churn score, riskiest first'
SELECT bucket, n, positives AS churned, round(rate::numeric, 3) AS churn_rate,
       round(lift::numeric, 2) AS lift, round(cumulative_gain::numeric, 3) AS cumulative_gain
FROM profenrich.lift('churn', 'demo.profiles');

\echo
\echo '== 11. Why is the riskiest profile at risk? (contributions to its logit)'
SELECT profile_id, plan, country, visits_90d, days_since_last_visit,
       round(profenrich.score('churn', p)::numeric, 3) AS churn_probability
FROM demo.profiles p ORDER BY profenrich.score('churn', p) DESC, profile_id LIMIT 1;
SELECT feature, value, round(contribution::numeric, 3) AS contribution
FROM profenrich.explain('churn',
       (SELECT p FROM demo.profiles p ORDER BY profenrich.score('churn', p) DESC, profile_id LIMIT 1), 4);

\echo
\echo '== 12. Lifetime value: RFM summaries of the purchase events up to the as-of date'
\echo '      (weeks; purchases on one day are one transaction), kept on the profiles'
ALTER TABLE demo.profiles ADD COLUMN frequency integer, ADD COLUMN recency float8,
                          ADD COLUMN t float8, ADD COLUMN monetary float8;
UPDATE demo.profiles p SET frequency = (r.s).frequency, recency = (r.s).recency, t = (r.s).t,
                           monetary = (r.s).monetary
FROM (SELECT profile_id, profenrich.rfm(ts, amount, '2024-10-02') AS s
      FROM demo.experience_events WHERE event_type = 'purchase' GROUP BY profile_id) r
WHERE r.profile_id = p.profile_id AND (r.s).t > 0;
SELECT count(frequency) AS buyers, count(*) FILTER (WHERE frequency > 0) AS repeat_buyers,
       round(avg(frequency), 2) AS avg_frequency, round(avg(t)::numeric, 1) AS avg_age_weeks,
       round(avg(monetary) FILTER (WHERE frequency > 0)::numeric, 2) AS avg_repeat_spend
FROM demo.profiles;
\echo '   a CLV model: BG/NBD purchases and Gamma-Gamma spend, 12 months, 1% a month discount'
SELECT name, version, algorithm, n_train, round((metrics->>'log_likelihood')::numeric, 1) AS log_likelihood,
       metrics->'converged' AS converged
FROM profenrich.train('ltv', 'clv', 'demo.profiles', options => '{"horizon_months": 12}');
SELECT feature AS parameter, round(coef::numeric, 4) AS estimate, round(std_err::numeric, 4) AS std_err
FROM profenrich.coefficients('ltv');

\echo
\echo '== 13. Enrichment in place: churn, conversion and LTV written into demo.profiles'
\echo '      (conversion = a purchase in the next 90 days)'
CREATE VIEW demo.conversion_training AS SELECT *, spend_next_90d > 0 AS converted FROM demo.profiles;
SELECT name, version, round((metrics->'test'->>'auc')::numeric, 3) AS test_auc
FROM profenrich.train('conversion', 'logistic', 'demo.conversion_training', 'converted',
     ARRAY['plan', 'country', 'newsletter', 'visits_90d', 'views_90d', 'purchases_90d',
           'spend_total', 'days_since_last_visit'],
     '{"key": "profile_id", "seed": 1}');
CALL profenrich.enrich('demo.profiles', array['churn', 'conversion', 'ltv'],
                       '{"percentile": true, "factors": 2}');
SELECT target, models, rows_scanned, rows_updated, status, round(extract(epoch FROM finished - started)::numeric, 2) AS seconds
FROM profenrich.enrich_runs ORDER BY run_id DESC LIMIT 1;
\echo '   the LTV distribution (profiles with a purchase history)'
SELECT count(ltv_score) AS valued, round(sum(ltv_score)::numeric, 0) AS total_12m_value,
       round(avg(ltv_score)::numeric, 2) AS mean,
       round(percentile_cont(0.1) WITHIN GROUP (ORDER BY ltv_score)::numeric, 2) AS p10,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ltv_score)::numeric, 2) AS median,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ltv_score)::numeric, 2) AS p90,
       round(max(ltv_score)::numeric, 2) AS max
FROM demo.profiles;
\echo '   the top customers by value, with what drives it'
SELECT profile_id, plan, frequency, round(recency::numeric, 1) AS recency, round(t::numeric, 1) AS t,
       round(monetary::numeric, 2) AS monetary,
       round(profenrich.p_alive('ltv', frequency, recency, t)::numeric, 3) AS p_alive,
       round(profenrich.expected_purchases('ltv', 52, frequency, recency, t)::numeric, 2) AS purchases_next_year,
       round(profenrich.expected_spend('ltv', frequency, monetary)::numeric, 2) AS spend_per_purchase,
       round(ltv_score::numeric, 2) AS ltv, ltv_pct
FROM demo.profiles WHERE ltv_score IS NOT NULL ORDER BY ltv_score DESC, profile_id LIMIT 10;

\echo
\echo '== 14. As a BI tool reads them: the insight columns of a few profiles'
SELECT profile_id, plan, round(churn_score::numeric, 3) AS churn, churn_pct, churn_factors,
       round(conversion_score::numeric, 3) AS conversion, conversion_pct,
       round(ltv_score::numeric, 2) AS ltv, ltv_pct
FROM demo.profiles ORDER BY profile_id LIMIT 6;
SELECT plan, count(*) AS profiles, round(avg(churn_score)::numeric, 3) AS avg_churn,
       count(*) FILTER (WHERE churn_pct >= 90) AS top_decile_churn_risk,
       round(sum(ltv_score)::numeric, 0) AS predicted_12m_value
FROM demo.profiles GROUP BY plan ORDER BY plan;

\echo
\echo '== 15. Real time: a trigger scores a new profile as it is inserted'
CREATE TRIGGER churn_now BEFORE INSERT OR UPDATE ON demo.profiles
FOR EACH ROW EXECUTE FUNCTION profenrich.enrich_trigger('churn', '{"factors": 2}');
INSERT INTO demo.profiles (profile_id, email, country, plan, signup_date, age, newsletter, tenure_days,
                           visits_90d, views_90d, purchases_90d, purchases_total, spend_total,
                           days_since_last_visit)
VALUES (900001, 'new.customer@example.com', 'FR', 'free', '2024-06-15', 29, false, 199, 1, 2, 0, 0, 0, 80)
RETURNING profile_id, round(churn_score::numeric, 3) AS churn, churn_pct, churn_factors;
\echo '   ... and rescores it when the profile changes'
UPDATE demo.profiles SET visits_90d = 25, views_90d = 60, days_since_last_visit = 2
WHERE profile_id = 900001
RETURNING profile_id, round(churn_score::numeric, 3) AS churn, churn_pct, churn_factors;
\echo
\echo '== 16. Analysts score in SQL too: SELECT profile_id, profenrich.score_churn(p) FROM demo.profiles p'
SELECT profile_id, round(profenrich.score_churn(p)::numeric, 3) AS churn,
       round(profenrich.score_conversion(p)::numeric, 3) AS conversion,
       round(profenrich.predict_ltv(p)::numeric, 2) AS ltv
FROM demo.profiles p WHERE profile_id IN (4, 5, 900001) ORDER BY profile_id;

\echo
\echo '== 17. Segments: k-means on behaviour, k chosen by silhouette ("k": "auto", 3 to 8)'
SELECT name, version, n_train, metrics->'k' AS k, round((metrics->>'silhouette')::numeric, 3) AS silhouette,
       metrics->'sizes' AS sizes
FROM profenrich.train('segments', 'kmeans', 'demo.profiles', NULL,
     ARRAY['visits_90d', 'views_90d', 'purchases_90d', 'spend_total', 'days_since_last_visit',
           'tenure_days', 'newsletter'],
     '{"k": "auto", "k_min": 3, "k_max": 8, "seed": 1}');
SELECT (c->>'k')::int AS k, round((c->>'silhouette')::numeric, 3) AS silhouette,
       round((c->>'inertia')::numeric, 0) AS inertia
FROM profenrich.models m, jsonb_array_elements(m.metrics->'auto'->'candidates') c
WHERE m.name = 'segments' AND m.deployed ORDER BY 1;
\echo '   each segment, with the features that set it apart (segment value vs overall)'
SELECT segment, size, round(share::numeric, 3) AS share,
       string_agg(format('%s %s vs %s', d->>'feature', round((d->>'segment')::numeric, 1),
                         round((d->>'overall')::numeric, 1)), '; ') AS distinctive
FROM profenrich.segments('segments'), jsonb_array_elements(distinctive) d
GROUP BY segment, size, share ORDER BY segment;
\echo '   enrich the profiles with their segment, then read it as a BI tool would'
CALL profenrich.enrich('demo.profiles', array['segments'], '{"distance": true}');
SELECT segments_segment AS segment, count(*) AS profiles,
       round(avg(spend_total)::numeric, 0) AS avg_spend, round(avg(churn_score)::numeric, 3) AS avg_churn,
       round(avg(segments_distance)::numeric, 2) AS avg_distance
FROM demo.profiles GROUP BY 1 ORDER BY 1;
