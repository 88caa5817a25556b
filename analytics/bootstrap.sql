-- Run by Migrate before any migration, every time: the database and the table that records which
-- migrations are applied. Not a numbered migration, since it must exist before versions are read.
-- ReplacingMergeTree keyed by version: two processes migrating at once record a version twice, and
-- the copies collapse. ${database} is replaced with the database name.

CREATE DATABASE IF NOT EXISTS ${database};

CREATE TABLE IF NOT EXISTS ${database}.schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = ReplacingMergeTree()
ORDER BY version;
