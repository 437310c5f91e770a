package authfile

import (
	"github.com/credpool/credpool/pool"
)

// field is a row of table: a known entry field. fNone (0) is every key
// credpool does not know.
type field uint8

const fNone field = 0

// fieldSpec is everything authfile knows about one entry field: its JSON
// name, how its value is read and written (kind), and whether an entry
// that was not on disk carries it.
type fieldSpec struct {
	name string
	kind kind
	emit emit
}

// emit says when a new entry (one that was not on disk) has the field.
// Entries that were on disk keep the members they had and gain a field only
// when its value is set.
type emit uint8

const (
	always  emit = iota // as Hermes' to_dict does: null when clear
	whenSet             // only when not zero/null
	never               // read, never added (expires_at_ms)
)

// table is the one place that maps pool.Entry's fields to auth.json. Its
// order is the order Hermes' PooledCredential.to_dict writes a new entry
// in, with the fields newer Hermes versions keep after request_count.
// Decoding, comparison, rendering and the new-entry layout all walk it;
// TestFieldTableCoversEntry fails when pool.Entry has a field this table
// does not name, or a row names no field.
var table = [...]fieldSpec{
	fNone: {},
	{"id", text{at: func(e *pool.Entry) *string { return &e.ID }}, always},
	{"label", text{at: func(e *pool.Entry) *string { return &e.Label }}, always},
	{"auth_type", text{at: func(e *pool.Entry) *string { return &e.AuthType }}, always},
	{"priority", integer{at: func(e *pool.Entry) *int { return &e.Priority }}, always},
	{"source", text{at: func(e *pool.Entry) *string { return &e.Source }}, always},
	{"access_token", text{at: func(e *pool.Entry) *string { return &e.AccessToken }}, always},
	{"refresh_token", text{at: func(e *pool.Entry) *string { return &e.RefreshToken }, null: true}, whenSet},
	{"last_status", text{at: func(e *pool.Entry) *string { return (*string)(&e.LastStatus) }, null: true}, always},
	{"last_status_at", epochTime{at: func(e *pool.Entry) *float64 { return &e.LastStatusAt }}, always},
	{"last_error_code", integer{at: func(e *pool.Entry) *int { return &e.LastErrorCode }, null: true}, always},
	{"last_error_reason", text{at: func(e *pool.Entry) *string { return &e.LastErrorReason }, null: true}, always},
	{"last_error_message", text{at: func(e *pool.Entry) *string { return &e.LastErrorMessage }, null: true}, always},
	{"last_error_reset_at", epochTime{at: func(e *pool.Entry) *float64 { return &e.LastErrorResetAt }}, always},
	{"base_url", text{at: func(e *pool.Entry) *string { return &e.BaseURL }, null: true}, whenSet},
	{"expires_at", expiry{}, whenSet},
	{"expires_at_ms", expiry{ms: true}, never},
	{"last_refresh", text{at: func(e *pool.Entry) *string { return &e.LastRefresh }, null: true}, whenSet},
	{"request_count", integer{at: func(e *pool.Entry) *int { return &e.RequestCount }}, always},
	{"failure_reason", text{at: func(e *pool.Entry) *string { return &e.FailureReason }, null: true}, whenSet},
	{"status_cleared_at", epochTime{at: func(e *pool.Entry) *float64 { return &e.StatusClearedAt }}, whenSet},
	{"model_cooldowns", epochMap{at: func(e *pool.Entry) *map[string]float64 { return &e.ModelCooldowns }}, whenSet},
	{"model_cooldown_observed_at", epochMap{at: func(e *pool.Entry) *map[string]float64 { return &e.ModelCooldownObservedAt }}, whenSet},
	{"secret_fingerprint", text{at: func(e *pool.Entry) *string { return &e.SecretFingerprint }, null: true}, whenSet},
}

const numFields = field(len(table))

// fieldSet is a set of fields, one bit each; numFields must fit.
type fieldSet uint32

var _ [32 - numFields]struct{} // a compile error once the table outgrows fieldSet

func (s fieldSet) has(f field) bool { return s&(1<<f) != 0 }

var fieldOf = func() map[string]field {
	m := make(map[string]field, numFields)
	for f := field(1); f < numFields; f++ {
		m[table[f].name] = f
	}
	return m
}()

// The fields code refers to by identity.
var (
	fID          = fieldNamed("id")
	fExpiresAt   = fieldNamed("expires_at")
	fExpiresAtMS = fieldNamed("expires_at_ms")
)

func fieldNamed(name string) field {
	f, ok := fieldOf[name]
	if !ok {
		panic("authfile: no field " + name + " in the table")
	}
	return f
}

// kind is how the values of one kind of field are read and written.
type kind interface {
	// decode reads raw (a validated JSON value) into d's entry; on error it
	// leaves the entry as it was, and the error quotes no value.
	decode(d *entryDecoder, raw []byte) error
	same(a, b *pool.Entry) bool
	zero(e *pool.Entry) bool
	// render appends the value of e as credpool writes it. raw is the
	// member's value on disk, or nil; rec is the entry's record, or nil.
	render(b []byte, e *pool.Entry, rec *record, raw []byte) []byte
	// ptr is the pool.Entry field the kind reads and writes (for tests).
	ptr(e *pool.Entry) any
}
