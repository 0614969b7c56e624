-- the seeded simulation of sql/clv.sql (test/data/clv_simulate.sql), 1,500 customers
\i test/data/clv_simulate.sql
SELECT setseed(0.4242);
CREATE TABLE fmt_rfm AS SELECT * FROM pg_temp.simulate(1500);
