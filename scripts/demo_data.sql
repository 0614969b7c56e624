-- =============================================================================
-- profenrich demo data: a small XDM-like (Adobe Experience Data Model-like)
-- customer data set, generated with plain SQL (PostgreSQL 15, no extensions).
--
--   psql -v ON_ERROR_STOP=1 -f scripts/demo_data.sql
--
-- Deterministic: every random draw comes from random() after the single
-- setseed() call below, each draw is made in a statement whose row order is
-- fixed (a scan of generate_series, or of a temp table with a LATERAL
-- generate_series), and parallel query is switched off. Runs in well under
-- 10 seconds. Re-running it drops and rebuilds schema "demo".
--
-- Tables
-- ------
-- demo.profiles (5,000 rows), one row per customer profile:
--   profile_id, email, country ('US','DE','UK','FR','ES', skewed: ~40/20/15/15/10 %),
--   plan ('free','basic','premium', ~55/30/15 %), signup_date (2023-01-01..2024-06-30),
--   age (18..80, ~5 % NULL), newsletter,
--   tenure_days = DATE '2024-12-31' - signup_date.
--
-- demo.experience_events (~200k rows), one row per event:
--   event_id (identity, assigned in (profile_id, ts) order), profile_id,
--   ts (2024-01-01 00:00 .. 2024-12-31 23:59:59 UTC),
--   event_type ('visit','view','purchase'),
--   product_category (one of 8 categories for view/purchase, NULL for visit),
--   amount (> 0 for purchase, NULL otherwise).
--
-- Time split (for supervised-learning demos; all dates UTC)
-- ----------------------------------------------------------
--   observation period : 2024-01-01 .. 2024-10-02 (ts <  2024-10-03)
--   as-of date         : 2024-10-02
--   feature window 90d : 2024-07-05 .. 2024-10-02 (90 days ending at the as-of date)
--   target window  90d : 2024-10-03 .. 2024-12-31 (ts >= 2024-10-03)
--
-- Behavioural feature columns of demo.profiles use ONLY events before
-- 2024-10-03, so the targets below are genuine "future" values:
--   visits_90d, views_90d, purchases_90d : event counts in the 90-day feature window
--   purchases_total, spend_total         : purchase count / sum of amount over the whole
--                                          observation period (2024-01-01..2024-10-02);
--                                          0 when none
--   avg_order_value                      : spend_total / purchases_total, NULL if no purchase
--   days_since_last_visit                : 2024-10-02 minus date of the last visit event
--                                          before 2024-10-03; NULL if no visit at all
--   days_since_last_purchase             : same for purchases; NULL if no purchase
--
-- Targets:
--   spend_next_90d : sum of purchase amounts in the target window
--                    (2024-10-03..2024-12-31); 0 when no purchase there
--   churned        : true  when the profile has >= 1 event before 2024-10-03
--                    and no event in 2024-10-03..2024-12-31; false otherwise
--                    (including profiles without any event before 2024-10-03)
--
-- Generative story (latent variables are not stored)
-- -------------------------------------------------
--   * each profile has a visit intensity = plan base rate (premium > basic > free)
--     x Gamma(shape 1.5, mean 1) activity multiplier x 1.15 if newsletter,
--     with a personal log-linear trend over the year (some profiles heat up,
--     others cool down);
--   * ~35 % of profiles (more for free, fewer for premium) have a latent churn
--     date, uniform over their active part of 2024, after which they produce
--     no events; activity starts at max(signup_date, 2024-01-01);
--   * each visit produces a geometric number of product views (profile-specific
--     mean) and a purchase with a profile-specific probability, boosted during
--     the holiday season (2024-11-20..2024-12-24);
--   * views/purchases favour a per-profile favourite category;
--   * purchase amounts are log-normal, depending on plan, category and a
--     per-profile spend level.
-- =============================================================================

BEGIN;

SET LOCAL client_min_messages = warning;
SET LOCAL max_parallel_workers_per_gather = 0;   -- keep row order of draws fixed
SET LOCAL timezone = 'UTC';

SELECT setseed(0.42);

DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;

-- -----------------------------------------------------------------------------
-- 1. Per-profile uniform draws (one scan of generate_series: fixed order).
--    1 - random() is used wherever a log is taken, to stay in (0, 1].
-- -----------------------------------------------------------------------------
CREATE TEMP TABLE _pdraw AS
SELECT g::bigint        AS profile_id,
       random()         AS u_country,
       random()         AS u_plan,
       random()         AS u_signup,
       random()         AS u_age_null,
       1 - random()     AS u_age1,
       random()         AS u_age2,
       random()         AS u_news,
       random()         AS u_domain,
       1 - random()     AS u_rate_e,      -- exponential part of Gamma(1.5)
       1 - random()     AS u_rate_z1,     -- normal  -> Gamma(0.5) part
       random()         AS u_rate_z2,
       1 - random()     AS u_trend1,
       random()         AS u_trend2,
       random()         AS u_churn,
       random()         AS u_churn_t,
       1 - random()     AS u_buy1,
       random()         AS u_buy2,
       random()         AS u_views,
       1 - random()     AS u_spend1,
       random()         AS u_spend2,
       random()         AS u_favcat,
       1 - random()     AS u_n1,          -- noise on the visit count
       random()         AS u_n2,
       random()         AS u_n3
FROM generate_series(1, 5000) AS g;

-- -----------------------------------------------------------------------------
-- 2. Static profile attributes + latent parameters (no randomness here).
-- -----------------------------------------------------------------------------
CREATE TEMP TABLE _latent AS
WITH a AS (
    SELECT d.*,
           CASE WHEN u_country < 0.40 THEN 'US'
                WHEN u_country < 0.60 THEN 'DE'
                WHEN u_country < 0.75 THEN 'UK'
                WHEN u_country < 0.90 THEN 'FR'
                ELSE 'ES' END                                            AS country,
           CASE WHEN u_plan < 0.55 THEN 'free'
                WHEN u_plan < 0.85 THEN 'basic'
                ELSE 'premium' END                                       AS plan,
           DATE '2023-01-01' + floor(u_signup * 547)::int                 AS signup_date,
           CASE WHEN u_age_null < 0.05 THEN NULL
                ELSE least(80, greatest(18, round(40 + 13 *
                       sqrt(-2 * ln(u_age1)) * cos(2 * pi() * u_age2))))::int
           END                                                           AS age,
           -- standard normals (Box-Muller)
           sqrt(-2 * ln(u_rate_z1)) * cos(2 * pi() * u_rate_z2)          AS z_rate,
           sqrt(-2 * ln(u_trend1))  * cos(2 * pi() * u_trend2)           AS z_trend,
           sqrt(-2 * ln(u_buy1))    * cos(2 * pi() * u_buy2)             AS z_buy,
           sqrt(-2 * ln(u_spend1))  * cos(2 * pi() * u_spend2)           AS z_spend,
           sqrt(-2 * ln(u_n1))      * cos(2 * pi() * u_n2)               AS z_n
    FROM _pdraw d
), b AS (
    SELECT a.*,
           (u_news < CASE plan WHEN 'premium' THEN 0.55
                               WHEN 'basic'   THEN 0.42
                               ELSE 0.32 END)                            AS newsletter,
           -- activity multiplier ~ Gamma(shape 1.5, scale 1/1.5): mean 1
           (-ln(u_rate_e) + 0.5 * z_rate * z_rate) / 1.5                 AS activity,
           -- log-intensity slope per day (sd 0.5 per year)
           0.5 * z_trend / 365.0                                         AS trend,
           -- latent churn (fraction depends on plan; ~35 % overall)
           (u_churn < CASE plan WHEN 'premium' THEN 0.22
                                WHEN 'basic'   THEN 0.32
                                ELSE 0.40 END)                           AS will_churn,
           extract(epoch FROM greatest(signup_date::timestamp,
                                       TIMESTAMP '2024-01-01')
                              - TIMESTAMP '2024-01-01') / 86400.0        AS t_start
    FROM a
), c AS (
    SELECT b.*,
           CASE WHEN will_churn
                THEN t_start + u_churn_t * (366 - t_start)
                ELSE 366.0 END                                            AS t_end_raw,
           CASE plan WHEN 'premium' THEN 0.070
                     WHEN 'basic'   THEN 0.045
                     ELSE 0.032 END
             * activity * CASE WHEN newsletter THEN 1.15 ELSE 1.0 END     AS rate_mid
    FROM b
), e AS (
    SELECT c.*,
           least(t_end_raw, 366.0 - 1.0 / 24) AS t_end,   -- keep sessions inside 2024
           -- exp(trend * (t - 183)) evaluated at window start / end
           exp(trend * (t_start - 183))       AS e_s,
           exp(trend * (least(t_end_raw, 366.0 - 1.0 / 24) - 183)) AS e_e
    FROM c
), f AS (
    SELECT e.*,
           -- expected visits = integral of rate_mid * exp(trend * (t - 183))
           CASE WHEN abs(trend) < 1e-9 THEN rate_mid * (t_end - t_start)
                ELSE rate_mid * (e_e - e_s) / trend END                   AS exp_visits
    FROM e
)
SELECT profile_id, country, plan, signup_date, age, newsletter,
       'user' || lpad(profile_id::text, 5, '0') || '@'
         || (ARRAY['example.com', 'example.org', 'example.net'])[1 + floor(u_domain * 3)::int]
                                                                       AS email,
       t_start, t_end, trend, e_s, e_e,
       -- visit count: expected value + normal noise (Poisson-like sd) , >= 0
       greatest(0, floor(exp_visits + sqrt(exp_visits) * z_n + u_n3))::int AS n_visits,
       -- purchase probability per visit: plan base x log-normal propensity
       least(0.6, CASE plan WHEN 'premium' THEN 0.13
                            WHEN 'basic'   THEN 0.09
                            ELSE 0.05 END * exp(0.6 * z_buy - 0.18))       AS p_buy,
       0.8 + 3.0 * u_views                                                  AS mean_views,
       1 + floor(u_favcat * 8)::int                                         AS fav_cat,
       CASE plan WHEN 'premium' THEN ln(60)
                 WHEN 'basic'   THEN ln(38)
                 ELSE ln(24) END + 0.35 * z_spend                           AS mu_spend
FROM f
ORDER BY profile_id;

-- -----------------------------------------------------------------------------
-- 3. Profiles (static part; behavioural columns are filled in step 6).
-- -----------------------------------------------------------------------------
CREATE TABLE demo.profiles (
    profile_id               bigint PRIMARY KEY,
    email                    text NOT NULL,
    country                  text NOT NULL,
    plan                     text NOT NULL CHECK (plan IN ('free', 'basic', 'premium')),
    signup_date              date NOT NULL,
    age                      int,
    newsletter               boolean NOT NULL,
    tenure_days              int NOT NULL,
    -- features (observation period up to 2024-10-02)
    visits_90d               int,
    views_90d                int,
    purchases_90d            int,
    purchases_total          int,
    spend_total              float8,
    avg_order_value          float8,
    days_since_last_visit    int,
    days_since_last_purchase int,
    -- targets (2024-10-03 .. 2024-12-31)
    spend_next_90d           float8,
    churned                  boolean
);

INSERT INTO demo.profiles (profile_id, email, country, plan, signup_date, age,
                           newsletter, tenure_days)
SELECT profile_id, email, country, plan, signup_date, age, newsletter,
       DATE '2024-12-31' - signup_date
FROM _latent
ORDER BY profile_id;

-- -----------------------------------------------------------------------------
-- 4. Sessions (visits): one row per visit, drawn per profile.
--    Visit time via inverse CDF of the intensity exp(trend * (t - 183)).
-- -----------------------------------------------------------------------------
CREATE TEMP TABLE _visits AS
WITH d AS MATERIALIZED (
    SELECT l.profile_id, l.t_start, l.t_end, l.trend, l.e_s, l.e_e,
           l.p_buy, l.mean_views, l.fav_cat, l.mu_spend,
           k                                    AS visit_no,
           random()                             AS u_t,
           1 - random()                         AS u_nviews,
           random()                             AS u_buy
    FROM _latent l
    CROSS JOIN LATERAL generate_series(1, l.n_visits) AS k
), t AS (
    SELECT d.*,
           CASE WHEN abs(trend) < 1e-9
                THEN t_start + u_t * (t_end - t_start)
                ELSE 183 + ln(e_s + u_t * (e_e - e_s)) / trend END AS t_day
    FROM d
)
SELECT profile_id, visit_no, p_buy, fav_cat, mu_spend,
       TIMESTAMPTZ '2024-01-01 00:00:00+00'
         + make_interval(secs => floor(t_day * 86400))              AS ts,
       -- geometric number of views with mean ~ mean_views
       floor(ln(u_nviews) / ln(mean_views / (mean_views + 1)))::int AS n_views,
       CASE WHEN u_buy < p_buy * CASE WHEN t_day >= 324 AND t_day < 358   -- 2024-11-20..12-24
                                      THEN 1.5 ELSE 1.0 END * 0.12 THEN 2
            WHEN u_buy < p_buy * CASE WHEN t_day >= 324 AND t_day < 358
                                      THEN 1.5 ELSE 1.0 END THEN 1
            ELSE 0 END                                              AS n_purch
FROM t
ORDER BY profile_id, visit_no;

-- -----------------------------------------------------------------------------
-- 5. Events: visits, views and purchases (draws per view / per purchase).
-- -----------------------------------------------------------------------------
CREATE TEMP TABLE _views AS
SELECT v.profile_id, v.visit_no, j AS seq,
       v.ts + make_interval(secs => 40 * j + floor(random() * 80)) AS ts,
       CASE WHEN random() < 0.55 THEN v.fav_cat
            ELSE 1 + floor(random() * 8)::int END                  AS cat
FROM _visits v
CROSS JOIN LATERAL generate_series(1, v.n_views) AS j;

CREATE TEMP TABLE _purch AS
WITH d AS MATERIALIZED (
    SELECT v.profile_id, v.visit_no, v.ts, v.n_views, v.fav_cat, v.mu_spend,
           m,
           random()      AS u_dt,
           random()      AS u_fav,
           random()      AS u_cat,
           1 - random()  AS u_a1,
           random()      AS u_a2
    FROM _visits v
    CROSS JOIN LATERAL generate_series(1, v.n_purch) AS m
)
SELECT profile_id, visit_no, 1000 + m AS seq,
       ts + make_interval(secs => 40 * (n_views + 1) + 60 * m + floor(u_dt * 120)) AS ts,
       CASE WHEN u_fav < 0.6 THEN fav_cat ELSE 1 + floor(u_cat * 8)::int END       AS cat,
       u_a1, u_a2, mu_spend
FROM d;

CREATE TABLE demo.experience_events (
    event_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    profile_id       bigint NOT NULL REFERENCES demo.profiles (profile_id),
    ts               timestamptz NOT NULL,
    event_type       text NOT NULL CHECK (event_type IN ('visit', 'view', 'purchase')),
    product_category text,
    amount           float8,
    CHECK ((event_type = 'visit'    AND product_category IS NULL     AND amount IS NULL)
        OR (event_type = 'view'     AND product_category IS NOT NULL AND amount IS NULL)
        OR (event_type = 'purchase' AND product_category IS NOT NULL AND amount > 0))
);

-- category names and log-price effects
CREATE TEMP TABLE _cat (cat int PRIMARY KEY, name text, price_eff float8);
INSERT INTO _cat VALUES
    (1, 'books',       -0.35), (2, 'music',  -0.45), (3, 'electronics', 0.65),
    (4, 'garden',       0.10), (5, 'toys',   -0.10), (6, 'fashion',     0.20),
    (7, 'sports',       0.15), (8, 'beauty', -0.15);

-- no randomness below this point: the ORDER BY fixes event_id assignment
INSERT INTO demo.experience_events (profile_id, ts, event_type, product_category, amount)
SELECT profile_id, least(ts, TIMESTAMPTZ '2024-12-31 23:59:59+00'), event_type, category, amount
FROM (
    SELECT profile_id, visit_no, 0 AS seq, ts, 'visit' AS event_type,
           NULL::text AS category, NULL::float8 AS amount
    FROM _visits
    UNION ALL
    SELECT w.profile_id, w.visit_no, w.seq, w.ts, 'view', c.name, NULL
    FROM _views w JOIN _cat c USING (cat)
    UNION ALL
    SELECT p.profile_id, p.visit_no, p.seq, p.ts, 'purchase', c.name,
           greatest(1.0, round(exp(p.mu_spend + c.price_eff
                     + 0.55 * sqrt(-2 * ln(p.u_a1)) * cos(2 * pi() * p.u_a2))::numeric, 2))::float8
    FROM _purch p JOIN _cat c USING (cat)
) ev
ORDER BY profile_id, ts, visit_no, seq;

CREATE INDEX experience_events_profile_ts_idx ON demo.experience_events (profile_id, ts);
CREATE INDEX experience_events_ts_idx ON demo.experience_events (ts);

-- -----------------------------------------------------------------------------
-- 6. Behavioural summaries (features before 2024-10-03) and targets.
-- -----------------------------------------------------------------------------
UPDATE demo.profiles p
SET visits_90d               = coalesce(a.visits_90d, 0),
    views_90d                = coalesce(a.views_90d, 0),
    purchases_90d            = coalesce(a.purchases_90d, 0),
    purchases_total          = coalesce(a.purchases_total, 0),
    spend_total              = coalesce(a.spend_total, 0),
    avg_order_value          = a.spend_total / nullif(a.purchases_total, 0),
    days_since_last_visit    = DATE '2024-10-02' - a.last_visit,
    days_since_last_purchase = DATE '2024-10-02' - a.last_purchase,
    spend_next_90d           = coalesce(a.spend_next_90d, 0),
    churned                  = coalesce(a.n_before > 0 AND a.n_after = 0, false)
FROM demo.profiles p0
LEFT JOIN (
    SELECT profile_id,
           count(*) FILTER (WHERE event_type = 'visit'    AND ts >= '2024-07-05 00:00+00' AND ts < '2024-10-03 00:00+00') AS visits_90d,
           count(*) FILTER (WHERE event_type = 'view'     AND ts >= '2024-07-05 00:00+00' AND ts < '2024-10-03 00:00+00') AS views_90d,
           count(*) FILTER (WHERE event_type = 'purchase' AND ts >= '2024-07-05 00:00+00' AND ts < '2024-10-03 00:00+00') AS purchases_90d,
           count(*) FILTER (WHERE event_type = 'purchase' AND ts < '2024-10-03 00:00+00') AS purchases_total,
           sum(amount) FILTER (WHERE event_type = 'purchase' AND ts < '2024-10-03 00:00+00') AS spend_total,
           max((ts AT TIME ZONE 'UTC')::date) FILTER (WHERE event_type = 'visit'    AND ts < '2024-10-03 00:00+00') AS last_visit,
           max((ts AT TIME ZONE 'UTC')::date) FILTER (WHERE event_type = 'purchase' AND ts < '2024-10-03 00:00+00') AS last_purchase,
           sum(amount) FILTER (WHERE event_type = 'purchase' AND ts >= '2024-10-03 00:00+00') AS spend_next_90d,
           count(*) FILTER (WHERE ts <  '2024-10-03 00:00+00') AS n_before,
           count(*) FILTER (WHERE ts >= '2024-10-03 00:00+00') AS n_after
    FROM demo.experience_events
    GROUP BY profile_id
) a ON a.profile_id = p0.profile_id
WHERE p.profile_id = p0.profile_id;

DROP TABLE _pdraw, _latent, _visits, _views, _purch, _cat;

COMMIT;

ANALYZE demo.profiles;
ANALYZE demo.experience_events;
