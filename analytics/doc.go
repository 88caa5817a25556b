// Package analytics is Switchyard's ClickHouse side: the DDL and its versioned migrations, the sink
// that moves llm.responses and llm.audit into ClickHouse, and the analyst queries.
//
// Everything here runs unchanged on the ClickHouse server Debian ships (18.16) and on current
// ClickHouse (26.x). Delivery into ClickHouse is at-least-once: the sink commits Kafka offsets only
// after the rows are inserted, and the tables remove duplicates by their data model
// (ReplacingMergeTree keyed by the record's idempotency key), read through the v_* views.
//
// This package may import schemas and third-party clients only; it must not import consumers,
// router, adapters, producers or cmd. The sink's codec is injected (SinkConfig.Decode).
package analytics
