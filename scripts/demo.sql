-- profenrich demo: the main job on the demo profiles.
-- Train a model of next-90-day spend from profile and behaviour columns, inspect it,
-- and score every profile in SQL, as an analyst or a BI tool would.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\echo
\echo '== A. Discovery: what is in the profiles? (one scan: counts, moments, quantiles, top values)'
SELECT column_name AS "column", n, nulls, distinct_values AS "distinct",
       CASE WHEN type = 'date' THEN to_char(date '1970-01-01' + min::int, 'YYYY-MM-DD')
            ELSE round(min::numeric, 1)::text END AS min,
       CASE WHEN type = 'date' THEN to_char(date '1970-01-01' + median::int, 'YYYY-MM-DD')
            ELSE round(median::numeric, 1)::text END AS median,
       CASE WHEN type = 'date' THEN to_char(date '1970-01-01' + max::int, 'YYYY-MM-DD')
            ELSE round(max::numeric, 1)::text END AS max,
       CASE WHEN type = 'date' THEN to_char(date '1970-01-01' + round(mean)::int, 'YYYY-MM-DD')
            ELSE round(mean::numeric, 2)::text END AS mean, round(sd::numeric, 2) AS sd,
       (SELECT string_agg(x->>'value' || ' (' || (x->>'count') || ')', ', ' ORDER BY o)
        FROM jsonb_array_elements(top_values) WITH ORDINALITY AS e(x, o) WHERE o <= 3) AS most_frequent
FROM profenrich.profile_summary('demo.profiles',
     ARRAY['country', 'plan', 'signup_date', 'age', 'newsletter', 'tenure_days', 'visits_90d',
           'views_90d', 'purchases_90d', 'spend_total', 'avg_order_value',
           'days_since_last_visit', 'days_since_last_purchase', 'spend_next_90d', 'churned']);

\echo
\echo '== B. Discovery: what relates to churn? (univariate AUC and information value, strongest first)'
SELECT feature, kind, round(missing_share::numeric, 3) AS missing, round(strength::numeric, 3) AS auc,
       round(information_value::numeric, 3) AS iv,
       CASE WHEN kind = 'categorical' THEN 'by category'
            WHEN (detail->>'auc')::float8 >= 0.5 THEN 'higher, more churn' ELSE 'higher, less churn' END
         AS direction
FROM profenrich.feature_report('demo.profiles', 'churned',
     ARRAY['plan', 'country', 'age', 'newsletter', 'tenure_days', 'visits_90d', 'views_90d',
           'purchases_90d', 'purchases_total', 'spend_total', 'avg_order_value',
           'days_since_last_visit', 'days_since_last_purchase']);

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
\echo '== 11a. Gradient-boosted trees beside it: the same profiles and features, algorithm gbdt'
\echo '       (XGBoost trains; profenrich scores and explains the trees itself)'
SELECT name, version, algorithm, n_train, n_test, metrics->>'trees' AS trees,
       metrics->>'best_iteration' AS best_iteration
FROM profenrich.train('churn_gbdt', 'gbdt', 'demo.profiles', 'churned',
     ARRAY['plan', 'country', 'age', 'newsletter', 'tenure_days', 'visits_90d', 'views_90d',
           'purchases_90d', 'spend_total', 'days_since_last_visit'],
     '{"seed": 1, "max_depth": 4, "learning_rate": 0.05, "n_trees": 500, "early_stopping_rounds": 30}');
\echo '   test AUC and log loss of both models (the same held-out profiles)'
SELECT name AS model, algorithm, round((metrics->'test'->>'auc')::numeric, 3) AS test_auc,
       round((metrics->'test'->>'logloss')::numeric, 3) AS test_logloss
FROM profenrich.models WHERE name IN ('churn', 'churn_gbdt') AND deployed ORDER BY name;
\echo '   lift by decile, side by side'
SELECT l.bucket, round(l.lift::numeric, 2) AS logistic_lift, round(g.lift::numeric, 2) AS gbdt_lift,
       round(l.cumulative_gain::numeric, 3) AS logistic_gain, round(g.cumulative_gain::numeric, 3) AS gbdt_gain
FROM profenrich.lift('churn', 'demo.profiles') l
JOIN profenrich.lift('churn_gbdt', 'demo.profiles') g USING (bucket) ORDER BY bucket;
\echo '   what the trees learned: mean gain and cover per split, splits, mean |SHAP|'
SELECT feature, round(gain::numeric, 2) AS gain, round(cover::numeric, 1) AS cover, weight AS splits,
       round(mean_abs_shap::numeric, 3) AS mean_abs_shap
FROM profenrich.feature_importance('churn_gbdt');
\echo '   the riskiest profile by the trees, explained by TreeSHAP (contributions to its log-odds)'
SELECT profile_id, plan, country, visits_90d, days_since_last_visit,
       round(profenrich.score('churn_gbdt', p)::numeric, 3) AS churn_probability
FROM demo.profiles p ORDER BY profenrich.score('churn_gbdt', p) DESC, profile_id LIMIT 1;
SELECT feature, value, round(contribution::numeric, 3) AS contribution
FROM profenrich.explain('churn_gbdt',
       (SELECT p FROM demo.profiles p ORDER BY profenrich.score('churn_gbdt', p) DESC, profile_id LIMIT 1), 4);

\echo
\echo '== 11b. Engagement classes: dormant / occasional / regular / loyal, a multinomial model'
\echo '      (the class from each profile''s visits and purchases in the 90 days after the window)'
CREATE VIEW demo.engagement_training AS
SELECT p.*, CASE WHEN e.purchases >= 2 THEN 'loyal' WHEN e.visits >= 6 THEN 'regular'
                 WHEN e.visits >= 1 THEN 'occasional' ELSE 'dormant' END AS engagement
FROM demo.profiles p
LEFT JOIN (SELECT profile_id, count(*) FILTER (WHERE event_type = 'visit') AS visits,
                  count(*) FILTER (WHERE event_type = 'purchase') AS purchases
           FROM demo.experience_events WHERE ts >= '2024-10-03' GROUP BY profile_id) e USING (profile_id);
SELECT name, version, algorithm, n_train, round((metrics->'test'->>'accuracy')::numeric, 3) AS test_accuracy,
       round((metrics->'test'->>'macro_f1')::numeric, 3) AS test_macro_f1,
       round((metrics->'test'->>'auc')::numeric, 3) AS test_auc_ovr
FROM profenrich.train('engagement', 'multinomial', 'demo.engagement_training', 'engagement',
     ARRAY['plan', 'newsletter', 'tenure_days', 'visits_90d', 'views_90d', 'purchases_90d',
           'spend_total', 'days_since_last_visit'], '{"key": "profile_id"}');
\echo '   per class on the held-out profiles'
SELECT c AS class, round((v->>'precision')::numeric, 3) AS precision, round((v->>'recall')::numeric, 3) AS recall,
       round((v->>'f1')::numeric, 3) AS f1, v->>'support' AS support
FROM profenrich.models m, jsonb_each(m.metrics->'test'->'per_class') AS x(c, v)
WHERE m.name = 'engagement' AND m.deployed ORDER BY c;
\echo '   the confusion matrix of the held-out profiles (rows: actual class)'
SELECT actual, sum(n) FILTER (WHERE predicted = 'dormant') AS dormant,
       sum(n) FILTER (WHERE predicted = 'occasional') AS occasional,
       sum(n) FILTER (WHERE predicted = 'regular') AS regular,
       sum(n) FILTER (WHERE predicted = 'loyal') AS loyal
FROM profenrich.confusion_matrix('engagement')
GROUP BY actual ORDER BY array_position(ARRAY['dormant', 'occasional', 'regular', 'loyal'], actual);
\echo '   enrich writes engagement_class (and its probability in engagement_score)'
CALL profenrich.enrich('demo.profiles', array['engagement']);
SELECT engagement_class, count(*) AS profiles, round(avg(engagement_score)::numeric, 3) AS mean_probability,
       round(avg(visits_90d), 1) AS visits_90d, round(avg(spend_total)::numeric, 0) AS spend_total
FROM demo.profiles GROUP BY engagement_class
ORDER BY array_position(ARRAY['dormant', 'occasional', 'regular', 'loyal'], engagement_class);

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
\echo '== 17. Product affinity: implicit-feedback ALS on the purchase events'
\echo '      (a product is a category and one of six price bands within it, 1 cheapest)'
CREATE VIEW demo.purchases AS
SELECT profile_id, product_category AS category, amount, ts,
       product_category || '-' || ntile(6) OVER (PARTITION BY product_category ORDER BY amount, event_id) AS product
FROM demo.experience_events WHERE event_type = 'purchase' AND ts < '2024-10-03';
SELECT name, n_train AS interactions, metrics->>'users' AS customers, metrics->>'items' AS products,
       metrics->>'test_users' AS test_customers,
       round((metrics->>'recall_at_10')::numeric, 3) AS recall_at_10,
       round((metrics->'baseline'->>'recall_at_10')::numeric, 3) AS popularity_recall_at_10
FROM profenrich.train('products', 'als', 'demo.purchases',
     options => '{"user": "profile_id", "item": "product", "factors": 8, "seed": 1}');

\echo
\echo '== 18. Category affinity: each customer''s share of its purchase amounts, halved every 30 days'
SELECT name, n_train AS interactions, metrics->>'users' AS customers, metrics->>'items' AS categories,
       metrics->>'as_of' AS as_of
FROM profenrich.train('categories', 'affinity', 'demo.purchases',
     options => '{"user": "profile_id", "item": "category", "weight": "amount", "time": "ts", "half_life_days": 30}');

\echo
\echo '== 19. A few customers: what they bought, and their top products and categories'
SELECT c.profile_id,
       (SELECT string_agg(product, ' ' ORDER BY ts) FROM demo.purchases x WHERE x.profile_id = c.profile_id) AS bought,
       profenrich.top_items('products', c.profile_id, 3) AS top_products,
       profenrich.top_items('categories', c.profile_id, 2) AS top_categories
FROM (SELECT profile_id FROM demo.purchases GROUP BY 1 HAVING count(*) >= 5 ORDER BY profile_id LIMIT 4) c;
\echo '   the categories of the first, with shares and lifts (share over the category''s share of all purchases)'
SELECT item AS category, round(share::numeric, 3) AS share, round(lift::numeric, 2) AS lift
FROM profenrich.affinities('categories',
       (SELECT profile_id FROM demo.purchases GROUP BY 1 HAVING count(*) >= 5 ORDER BY profile_id LIMIT 1));

\echo
\echo '== 20. The products most like the best seller (cosine of their ALS factors)'
SELECT p.product AS best_seller, s.item AS similar, round(s.score::numeric, 3) AS cosine
FROM (SELECT product FROM demo.purchases GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1) p,
     profenrich.similar_items('products', p.product, 5) s;

\echo
\echo '== 21. Enrichment: products_top and categories_top written into demo.profiles'
CALL profenrich.enrich('demo.profiles', array['products', 'categories'], '{"top": 3}');
SELECT profile_id, plan, products_top, categories_top,
       round(categories_top_scores[1]::numeric, 3) AS top_category_share
FROM demo.profiles WHERE profile_id IN (SELECT profile_id FROM demo.purchases GROUP BY 1 HAVING count(*) >= 5
                                       ORDER BY profile_id LIMIT 3) OR profile_id = 900001
ORDER BY profile_id;
\echo '   (900001 has no purchase: it gets the most popular products and categories)'

\echo
\echo '== 22. Real time: a new basket folded in against the stored factors, no retraining'
SELECT profenrich.top_items_for('products', product, 1, 3) AS next_for_this_basket
FROM (VALUES ('electronics-6'), ('electronics-5'), ('sports-5')) b(product);

\echo
\echo '== 23. Monitoring the churn model. Its training stored a baseline of the population it learned'
\echo '      from (decile bins of each number, shares of each category, deciles of its score);'
\echo '      drift compares the profiles of today with it, in one scan. Right after training:'
SELECT count(*) AS features_and_score, count(*) FILTER (WHERE status = 'stable') AS stable,
       round(max(psi)::numeric, 4) AS max_psi
FROM profenrich.drift('churn', 'demo.profiles');
SELECT round((profenrich.evaluate('churn')->>'ece')::numeric, 3) AS ece_at_training \gset
\echo '   A quarter later a third of the profiles have grown quieter (the real-time trigger rescores'
\echo '   each as it changes):'
UPDATE demo.profiles
SET visits_90d = visits_90d / 3, views_90d = views_90d / 3,
    days_since_last_visit = days_since_last_visit + 60
WHERE profile_id % 3 = 0;
\echo '   drift: the population stability index of each feature and of the score against the'
\echo '   baseline stored at training (stable < 0.1 <= moderate <= 0.25 < shift), one scan'
SELECT feature, round(psi::numeric, 3) AS psi, status
FROM profenrich.drift('churn', 'demo.profiles') ORDER BY psi DESC, feature;
\echo '   where the score moved: its training deciles, then and now'
SELECT b->>'bin' AS score_bin, round((b->>'baseline')::numeric, 3) AS at_training,
       round((b->>'current')::numeric, 3) AS now
FROM profenrich.drift('churn', 'demo.profiles') d, jsonb_array_elements(d.detail->'bins') b
WHERE d.feature = '(score)';
\echo '   the nightly check a pg_cron job runs, appending to profenrich.drift_log for a BI chart:'
\echo '   SELECT cron.schedule(''drift-churn'', ''0 4 * * *'', $$CALL profenrich.log_drift(''churn'', ''demo.profiles'')$$);'
CALL profenrich.log_drift('churn', 'demo.profiles');
SELECT logged_at::date AS day, feature, round(psi::numeric, 3) AS psi, status
FROM profenrich.drift_log WHERE model = 'churn' AND status <> 'stable' ORDER BY psi DESC;

\echo
\echo '== 24. Is the churn model still calibrated? Its held-out profiles as they are now:'
\echo '      predicted probability against the observed churn rate, in bins of 0.1'
SELECT bin, n, round(mean_predicted::numeric, 3) AS mean_predicted,
       round(observed_rate::numeric, 3) AS observed_rate
FROM profenrich.calibration('churn') WHERE n > 0;
SELECT :ece_at_training AS ece_at_training, round((e->>'ece')::numeric, 3) AS ece_now,
       round((e->>'auc')::numeric, 3) AS auc_now
FROM profenrich.evaluate('churn') e;
\echo '   and the threshold that is best for a cost of 1 per false alarm and 5 per missed churner'
SELECT round(threshold::numeric, 3) AS threshold, value AS total_cost, round(tpr::numeric, 3) AS recall,
       round(precision::numeric, 3) AS precision
FROM profenrich.best_threshold('churn', NULL, '{"fp": 1, "fn": 5}');
SELECT * FROM profenrich.confusion_matrix('churn');

\echo
\echo '== 25. Segments: k-means on behaviour, k chosen by silhouette ("k": "auto", 3 to 8)'
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
