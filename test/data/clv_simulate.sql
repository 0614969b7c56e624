-- Simulated customers for the lifetime-value tests (sql/clv.sql, sql/validation.sql,
-- sql/monitor.sql, test/reference/formats_040): Gamma and normal draws from random(), so a
-- setseed() before use fixes them.
-- pg_temp.simulate(n): n customers of BG/NBD with r = 0.25, alpha = 4, a = 0.8, b = 2.5 over 4
-- to 52 weeks, and Gamma-Gamma spend with p = 6, q = 4, gamma = 15.
CREATE FUNCTION pg_temp.rnorm() RETURNS float8 LANGUAGE sql AS
$$ SELECT sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) $$;
-- Gamma(shape, rate) by Marsaglia and Tsang; shape < 1 by the boost u^(1/shape)
CREATE FUNCTION pg_temp.rgamma(shape float8, rate float8) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE d float8; c float8; z float8; v float8; u float8; boost float8 := 1;
BEGIN
  IF shape < 1 THEN
    boost := (1 - random()) ^ (1 / shape);
    shape := shape + 1;
  END IF;
  d := shape - 1.0 / 3;
  c := 1 / sqrt(9 * d);
  LOOP
    z := pg_temp.rnorm();
    v := (1 + c * z) ^ 3;
    CONTINUE WHEN v <= 0;
    u := 1 - random();
    EXIT WHEN ln(u) < 0.5 * z * z + d - d * v + d * ln(v);
  END LOOP;
  RETURN d * v * boost / rate;
END $$;
CREATE FUNCTION pg_temp.simulate(n int) RETURNS TABLE (id int, frequency int, recency float8,
                                                      t float8, monetary float8)
LANGUAGE plpgsql AS $$
DECLARE lam float8; p float8; nu float8; g1 float8; clock float8; spend float8;
BEGIN
  FOR i IN 1..n LOOP
    id := i;
    t := 4 + 48 * random();
    lam := pg_temp.rgamma(0.25, 4);
    g1 := pg_temp.rgamma(0.8, 1);
    p := g1 / (g1 + pg_temp.rgamma(2.5, 1));
    nu := pg_temp.rgamma(4, 15);
    frequency := 0; recency := 0; clock := 0; spend := 0;
    LOOP
      clock := clock - ln(1 - random()) / lam;
      EXIT WHEN clock > t;
      frequency := frequency + 1;
      recency := clock;
      spend := spend + pg_temp.rgamma(6, nu);
      EXIT WHEN random() < p;
    END LOOP;
    monetary := CASE WHEN frequency > 0 THEN spend / frequency ELSE 0 END;
    RETURN NEXT;
  END LOOP;
END $$;
