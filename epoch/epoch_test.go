package epoch

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "1780322400", want: time.Unix(1780322400, 0)},
		{in: " 1780322400.5 ", want: time.Unix(1780322400, 5e8)},
		{in: "1780322400123", want: time.Unix(1780322400, 123e6)},
		{in: "2026-06-08T12:00:00Z", want: time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)},
		{in: "2026-06-08T12:00:00.250+02:00", want: time.Date(2026, 6, 8, 10, 0, 0, 25e7, time.UTC)},
		{in: "2026-06-08T12:00:00", want: time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC)},
		{in: "2026-06-08 12:00:00.123456", want: time.Date(2026, 6, 8, 12, 0, 0, 123456e3, time.UTC)},
		// What Python's %z writes, with and without the T.
		{in: "2026-06-01T12:30:00+0000", want: time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)},
		{in: "2026-06-01 12:30:00+0000", want: time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)},
		{in: "2026-06-01T12:30", want: time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)},
		{in: "2026-06-01T12:30+01:00", want: time.Date(2026, 6, 1, 11, 30, 0, 0, time.UTC)},
		{in: "2026-06-01 12:30", want: time.Date(2026, 6, 1, 12, 30, 0, 0, time.UTC)},
		{in: "2026-06-01", want: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
		{in: "9999-12-31T23:59:59Z", want: time.Unix(Max, 0)},
		{in: "", bad: true},
		{in: "soon", bad: true},
		{in: "garbage", bad: true},
		{in: "-5", bad: true},
		{in: "0", bad: true},
		{in: "NaN", bad: true},
		{in: "Inf", bad: true},
		{in: "1e300", bad: true},
		{in: "1e30", bad: true},
		{in: "0001-01-01T00:00:00Z", bad: true}, // time.Time's zero value
		{in: "1969-12-31T23:59:59Z", bad: true},
		{in: "1e-9", bad: true}, // rounds to the epoch itself
		{in: "9999-12-31T23:59:59-01:00", bad: true},
		{in: "9999-12-31T23:59:59.5Z", bad: true},
		// Decimal only: strconv.ParseFloat reads these, no time writer writes them.
		{in: "0x1p31", bad: true},
		{in: "1_780_322_400", bad: true},
		{in: "Infinity", bad: true},
		{in: "1e", bad: true},
		{in: "2026-06", bad: true},
		{in: "2026-06-01X", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.bad {
				assert.ErrorIs(t, err, ErrBadTime)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(Time(got)), "got %v want %v", Time(got), tc.want)
		})
	}
}

// TestErrorsQuoteNoInput: a time field sits beside tokens, and a writer
// may have put one there.
func TestErrorsQuoteNoInput(t *testing.T) {
	for _, in := range []string{"sk-SECRET", "2026-06-01TSECRET", "1e9SECRET", "SECRET 2026", "17803224000000000000000SECRET"} {
		_, err := Parse(in)
		require.ErrorIs(t, err, ErrBadTime, in)
		assert.NotContains(t, err.Error(), "SECRET")
		_, err = ParseRetryAfter(in, t0)
		require.ErrorIs(t, err, ErrBadTime, in)
		assert.NotContains(t, err.Error(), "SECRET")
	}
	_, err := FromNumber(-1)
	assert.ErrorIs(t, err, ErrBadTime)
}

func TestIsNumber(t *testing.T) {
	for in, want := range map[string]bool{
		"1780322400": true, "1780322400.5": true, "+1.5e9": true, "1E-3": true, ".5": true, "-5": true,
		"": false, " 1": false, "1-2": false, "2026-06-01": false, "2026-06-01T12:00:00Z": false,
		"Mon, 08 Jun 2026 12:00:00 GMT": false, "0x10": false, "Inf": false, "NaN": false, "1_000": false,
	} {
		assert.Equal(t, want, IsNumber(in), "%q", in)
	}
}

func TestFromNumber(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want float64
		bad  bool
	}{
		{in: 1780322400.25, want: 1780322400.25},
		// Milliseconds, as Hermes reads last_error_reset_at: not the year 58,900.
		{in: 1780322400123, want: 1780322400.123},
		{in: Max, want: Max},
		{in: 0, bad: true},
		{in: -1, bad: true},
		{in: math.NaN(), bad: true},
		{in: math.Inf(1), bad: true},
		{in: 1e30, bad: true},
		{in: Max + 1, bad: true},
	} {
		t.Run(strconv.FormatFloat(tc.in, 'g', -1, 64), func(t *testing.T) {
			got, err := FromNumber(tc.in)
			if tc.bad {
				assert.ErrorIs(t, err, ErrBadTime)
				return
			}
			require.NoError(t, err)
			assert.InDelta(t, tc.want, got, 1e-6)
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := Seconds(t0)
	for _, tc := range []struct {
		in   string
		want float64
		bad  bool
	}{
		{in: "30", want: now + 30},
		{in: "0", want: now},
		{in: "1.5", want: now + 1.5},
		{in: "Mon, 08 Jun 2026 12:00:00 GMT", want: Seconds(time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC))},
		{in: "Monday, 08-Jun-26 12:00:00 GMT", want: Seconds(time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC))},
		{in: "Mon Jun  8 12:00:00 2026", want: Seconds(time.Date(2026, 6, 8, 12, 0, 0, 0, time.UTC))},
		{in: "-1", bad: true},
		{in: "", bad: true},
		{in: "1e30", bad: true},
		{in: "tomorrow", bad: true},
		{in: "Mon, 01 Jan 0001 00:00:00 GMT", bad: true},
		{in: "0x10", bad: true},
		{in: "NaN", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRetryAfter(tc.in, t0)
			if tc.bad {
				assert.ErrorIs(t, err, ErrBadTime)
				return
			}
			require.NoError(t, err)
			assert.InDelta(t, tc.want, got, 1e-6)
		})
	}
}

func TestSecondsAndTimeDoNotOverflow(t *testing.T) {
	far := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
	assert.Equal(t, float64(Max), Seconds(far))
	assert.True(t, far.Equal(Time(Seconds(far))))
	// UnixNano overflows after 2262; Seconds must not.
	assert.Greater(t, Seconds(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)), Seconds(time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC)))
	assert.True(t, Time(1e30).Equal(time.Unix(Max, 0)), "clamped, not wrapped")
	assert.True(t, Time(math.NaN()).Equal(time.Unix(0, 0)))
	assert.Equal(t, "", Format(0))
	assert.Equal(t, "9999-12-31T23:59:59Z", Format(Max))
	assert.InDelta(t, 3600, Until(Seconds(t0)+3600, t0), 1e-9)
}

// FuzzParse: whatever the text, a parsed time is in 1970..Max and finite.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"1780322400", "1780322400123", "2026-06-08T12:00:00Z", "2026-06-01 12:30:00+0000",
		"0001-01-01T00:00:00Z", "1e-9", ".1", "9999-12-31T23:59:59Z", "NaN", "2026-06-01T12:30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > Max {
			t.Fatalf("Parse(%q) = %v, out of range", s, v)
		}
		if !Time(v).After(time.Unix(0, 0)) {
			t.Fatalf("Parse(%q) = %v is the epoch itself", s, v)
		}
	})
}

// FuzzParseRetryAfter: a parsed Retry-After is finite and in range.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"30", "1.5", "Mon, 08 Jun 2026 12:00:00 GMT", "-0", "1e30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRetryAfter(s, t0)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > Max+MaxDelay {
			t.Fatalf("ParseRetryAfter(%q) = %v, out of range", s, v)
		}
	})
}

// BenchmarkParse: the forms auth.json and providers carry, and a bad one
// (the report path).
func BenchmarkParse(b *testing.B) {
	for _, in := range []string{"2026-06-08T12:00:00.250000+00:00", "1780322400.5", "1780322400123", "garbage"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Parse(in)
			}
		})
	}
}

func BenchmarkParseRetryAfter(b *testing.B) {
	for _, in := range []string{"Mon, 08 Jun 2026 12:00:00 GMT", "30", "tomorrow"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = ParseRetryAfter(in, t0)
			}
		})
	}
}
