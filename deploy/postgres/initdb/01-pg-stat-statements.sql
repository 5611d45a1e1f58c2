-- Run by the postgres image once, when it creates the database (empty data
-- directory). pg_stat_statements is preloaded by docker-compose.yml; this makes
-- its view available for the slow-query statistics of docs/operations.md.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
