package sim

import "strconv"

// Hand-written JSON output (with internal/jsonw): the simulator answers thousands of requests a
// second on two cores, and reflection-based encoding would cost more than everything else it does.

func appendInt(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) }
