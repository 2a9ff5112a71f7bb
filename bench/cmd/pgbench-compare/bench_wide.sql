-- bench_wide: 10,000 "wide" rows for the wide100 and wide10k workloads of
-- pgbench-compare, and for the real-Postgres cases of bench/'s Go
-- benchmarks (which read this file).
--
-- Ten columns of mixed types, text values of 30 to 100 bytes, some NULLs:
-- the shape of a customer table. name, email and phone are the columns a
-- masking target would classify, so that masked and pass-through runs read
-- the same rows. Values are derived from the row number only, so every run
-- loads identical data.
DROP TABLE IF EXISTS bench_wide;
CREATE TABLE bench_wide (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    phone      text,
    birth_date date,
    created_at timestamptz NOT NULL,
    amount     numeric(12, 2) NOT NULL,
    score      double precision NOT NULL,
    active     boolean NOT NULL,
    note       text NOT NULL
);
INSERT INTO bench_wide
SELECT i,
       'Customer ' || i || ' ' || initcap(substr(md5('n' || i), 1, 14)),
       'user' || i || '.' || substr(md5('e' || i), 1, 12) || '@example.com',
       CASE WHEN i % 10 = 0 THEN NULL
            ELSE '+1 555 01' || lpad((i % 100)::text, 2, '0') || ' ' || lpad(i::text, 5, '0') END,
       CASE WHEN i % 17 = 0 THEN NULL ELSE date '1950-01-01' + (i * 7 % 20000) END,
       timestamptz '2024-11-01 00:00:00+00' + i * interval '37 minutes',
       (i * 7919 % 1000000) / 100.0,
       (i % 1000) / 7.0,
       i % 3 <> 0,
       md5('a' || i) || ' ' || substr(md5('b' || i) || md5('c' || i), 1, 1 + i % 60)
FROM generate_series(1, 10000) AS i;
ANALYZE bench_wide;
