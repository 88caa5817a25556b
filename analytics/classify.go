package analytics

import (
	"errors"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// errClass is what the sink does about a failed insert.
type errClass int

const (
	// classTransient: retry the same rows after a backoff (the server is down, overloaded, a table
	// is missing while a migration runs, the network failed, the outcome is unknown, ...).
	classTransient errClass = iota
	// classPermanent: these rows will never go in as they are (a type or schema mismatch); they go
	// to the sink dead-letter topic and the sink moves on.
	classPermanent
	// classFatal: nothing will go in until an operator fixes the configuration (authentication);
	// the sink stops without committing.
	classFatal
)

func (c errClass) String() string {
	return [...]string{"transient", "permanent", "fatal"}[c]
}

// permanentCodes are ClickHouse exception codes that reject the data or the column list itself:
// re-sending the same rows can only fail again. Codes not listed are transient, on purpose: a
// wrong "transient" costs retries (visible in Stats.InsertErrors and the log), a wrong "permanent"
// costs rows sent to the dead-letter topic.
var permanentCodes = map[int32]string{
	6:   "CANNOT_PARSE_TEXT",
	8:   "THERE_IS_NO_COLUMN",
	10:  "NOT_FOUND_COLUMN_IN_BLOCK",
	15:  "DUPLICATE_COLUMN",
	16:  "NO_SUCH_COLUMN_IN_TABLE",
	20:  "NUMBER_OF_COLUMNS_DOESNT_MATCH",
	26:  "CANNOT_PARSE_QUOTED_STRING",
	27:  "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
	38:  "CANNOT_PARSE_DATE",
	41:  "CANNOT_PARSE_DATETIME",
	43:  "ILLEGAL_TYPE_OF_ARGUMENT",
	44:  "ILLEGAL_COLUMN",
	47:  "UNKNOWN_IDENTIFIER",
	50:  "UNKNOWN_TYPE",
	53:  "TYPE_MISMATCH",
	62:  "SYNTAX_ERROR",
	69:  "ARGUMENT_OUT_OF_BOUND",
	70:  "CANNOT_CONVERT_TYPE",
	72:  "CANNOT_PARSE_NUMBER",
	117: "INCORRECT_DATA",
	131: "TOO_LARGE_STRING_SIZE",
	190: "SIZES_OF_ARRAYS_DOESNT_MATCH",
	321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
	349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
	469: "VIOLATED_CONSTRAINT",
}

// fatalCodes reject the sink's credentials.
var fatalCodes = map[int32]string{
	192: "UNKNOWN_USER",
	193: "WRONG_PASSWORD",
	194: "REQUIRED_PASSWORD",
	195: "IP_ADDRESS_NOT_ALLOWED",
	497: "ACCESS_DENIED",
	516: "AUTHENTICATION_FAILED",
}

// insertStage is where an insert failed.
type insertStage int

const (
	stagePrepare insertStage = iota // PrepareBatch: the server refused the INSERT itself (column list, table)
	stageAppend                     // Append: the driver could not convert one row to the column types
	stageSend                       // Send: the server refused the block, or the connection failed
)

// insertError is a failed insert of some rows into one table: where it failed and, for
// stageAppend, the position (in the rows being inserted) of the row the driver refused.
type insertError struct {
	stage insertStage
	pos   int
	err   error
}

func (e *insertError) Error() string {
	return fmt.Sprintf("%s: %v", [...]string{"prepare", "append row", "send"}[e.stage], e.err)
}

func (e *insertError) Unwrap() error { return e.err }

// classify decides what to do about a failed insert. A server exception is classified by its code.
// A row the driver refused in Append is permanent: the driver converts each value to the column
// type the server announced (e.g. a string that is not a member of an Enum column), so the same
// row always fails. Everything else (network errors, timeouts, unknown codes) is transient.
func classify(err error) errClass {
	var ex *proto.Exception
	if errors.As(err, &ex) {
		if _, ok := fatalCodes[ex.Code]; ok {
			return classFatal
		}
		if _, ok := permanentCodes[ex.Code]; ok {
			return classPermanent
		}
		return classTransient
	}
	var ie *insertError
	if errors.As(err, &ie) && ie.stage == stageAppend {
		return classPermanent
	}
	return classTransient
}

// FatalError is returned by Sink.Run when ClickHouse refuses the sink's credentials: retrying
// cannot help, so the sink stops without committing what it had consumed.
type FatalError struct {
	Table string
	Err   error
}

func (e *FatalError) Error() string {
	return fmt.Sprintf("analytics: sink: insert into %s refused for good (fix the ClickHouse credentials): %v", e.Table, e.Err)
}

func (e *FatalError) Unwrap() error { return e.Err }
