// Package schemas is Switchyard's wire contract: the Avro schemas of every event type (embedded
// from the .avsc files in this folder, the single source of truth), the Go types that mirror them,
// and the strict codec that turns records into bytes and back.
//
// It imports no other Switchyard package; every other package may import it.
//
// # Encodings
//
// A [Codec] reads three input encodings and picks one for its output:
//
//   - Avro with Confluent framing: 0x00, a 4-byte big-endian schema id, the Avro body. Only when a
//     schema registry is configured; ids are looked up (and cached) in the registry, and a writer
//     schema that differs from ours is resolved against ours with Avro schema resolution.
//   - Avro single-object encoding: 0xC3 0x01, the 8-byte little-endian CRC-64-AVRO fingerprint of
//     the schema's Parsing Canonical Form, the Avro body. The fingerprints of the current schemas
//     and of every released snapshot under compat/ are known, so no registry is needed.
//   - JSON in the same field layout as the Avro record (the json tags in types.go), chosen by a
//     content type of application/json or a leading '{'. Fields left out get the Avro defaults;
//     fields without a default are required. A bytes field is base64 text, as encoding/json
//     writes it; a JSON null in a field that is not nullable means "not set".
//
// # Strict decoding
//
// Decoding never turns bad input into zero values. The Avro body is first walked against the
// writer schema without allocating (every length and count is checked against the bytes that are
// left and against MaxMessageBytes, every string is checked for UTF-8, the record must end exactly
// at the end of the input); only then is it decoded into Go values. Every rejection is a
// [*DecodeError] whose Reason is one of the Reason constants (see [ReasonOf]); its Detail names
// positions, field names and sizes, never message content. A registry that cannot be reached is
// not a decode error: such errors match [ErrRegistryUnavailable], so callers back off and retry
// instead of dead-lettering the record.
//
// # Subjects
//
// Each record type is registered under a fixed subject named after its full record name, e.g.
// "switchyard.Request" (Confluent's RecordNameStrategy), not per topic: the same types travel on
// several topics (a Request inside every llm.work.<provider> WorkItem, any type on the DLQ) and a
// topic name strategy would register one schema many times. Upstream producers may register their
// schemas under any subject (e.g. "llm.requests-value"); decoding goes by schema id, so the subject
// they chose does not matter.
//
// # Evolving a schema
//
// The files under compat/ are snapshots of every released version of the schemas
// (compat/v1 is the first release). TestSchemaCompatibility checks that the current schemas can
// read data written with every snapshot (BACKWARD) and that every snapshot can read data written
// with the current schemas (FORWARD, so consumers that are one release behind keep working during
// a rolling deploy). A schema change must keep that test green: add fields only with a default,
// remove only fields that have a default, never change a field's type except by Avro promotion.
// When a release changes a schema, copy all the .avsc files into a new compat/vN folder (the
// next number) in the same commit; the codec then also accepts single-object data written with
// that version's fingerprints.
package schemas
