package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/credpool/credpool/apitype"
	"github.com/credpool/credpool/epoch"
)

func runSelect(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "select")
	lease := fs.Bool("lease", false, "take a lease on the credential")
	tokenOnly := fs.Bool("token", false, "print only the access token")
	asJSON := fs.Bool("json", false, "print the whole answer as JSON (includes the token)")
	strategy := fs.String("strategy", "", "override the pool's strategy for this selection")
	wait := fs.Duration("wait", 0, "wait up to this long (max 30s) for a credential to become available")
	model := fs.String("model", "", "the model the call will use: skip credentials benched for it")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("select needs exactly one PROVIDER")
	}
	if *wait < 0 || *wait > 30*time.Second {
		return usagef("--wait must be between 0 and 30s")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	res, err := client(s).Select(ctx, pos[0], apitype.SelectRequest{
		Strategy: *strategy, Lease: *lease, WaitMS: int(wait.Milliseconds()), Model: *model,
	})
	if err != nil {
		return explainNone(err)
	}
	switch {
	case *tokenOnly:
		fmt.Fprintln(e.Stdout, res.Credential.AccessToken)
	case *asJSON:
		return writeJSON(e.Stdout, res)
	default:
		c := res.Credential
		fmt.Fprintf(e.Stdout, "%s  %s  (%s, %s, priority %d, %d requests)\n", c.ID, printable(c.Label), c.AuthType, printable(c.Source), c.Priority, c.RequestCount)
		if c.BaseURL != nil {
			fmt.Fprintf(e.Stdout, "base_url  %s\n", printable(*c.BaseURL))
		}
		if res.Lease != nil {
			fmt.Fprintf(e.Stdout, "lease     %s (expires %s)\n", res.Lease.ID, formatTime(res.Lease.ExpiresAt))
		}
		fmt.Fprintln(e.Stdout, "(use --token or --json to print the token)")
	}
	return nil
}

// explainNone adds the earliest recovery time to a "none available" error.
func explainNone(err error) error {
	var apiErr *apitype.APIError
	if errors.As(err, &apiErr) && apiErr.Code == apitype.CodeNoneAvailable {
		if apiErr.NextAvailableAt != nil {
			return fmt.Errorf("%w; the next one is available at %s (in %s); retry then, or add one with 'credpool add'",
				err, formatTime(*apiErr.NextAvailableAt), humanSeconds(epoch.Until(*apiErr.NextAvailableAt, time.Now())))
		}
		return fmt.Errorf("%w; only DEAD credentials remain: log in again, or add one with 'credpool add'", err)
	}
	return err
}

func runReport(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "report")
	id := fs.String("id", "", "credential id")
	leaseID := fs.String("lease", "", "lease id (instead of --id)")
	code := fs.Int("status", 0, "HTTP status code the provider answered")
	reason := fs.String("reason", "", "provider error reason (e.g. token_invalidated)")
	message := fs.String("message", "", "provider error message")
	retryAfter := fs.String("retry-after", "", "Retry-After: seconds or an HTTP-date")
	resetAt := fs.String("reset-at", "", "provider reset time: epoch seconds, ms or ISO-8601")
	model := fs.String("model", "", "the model the call used (an Anthropic 429 or a model_entitlement failure benches that model only)")
	failure := fs.String("failure-reason", "", "billing, billing_unverified or model_entitlement")
	asJSON := fs.Bool("json", false, "print the answer as JSON (includes the next token)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("report needs exactly one PROVIDER")
	}
	if *id == "" && *leaseID == "" {
		return usagef("report needs --id ID or --lease LEASE_ID")
	}
	if *code == 0 {
		return usagef("report needs --status CODE")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	res, err := client(s).Report(ctx, pos[0], apitype.ReportRequest{
		CredentialID: *id, LeaseID: *leaseID, StatusCode: *code, Reason: *reason, Message: *message,
		RetryAfter: apitype.FlexString(*retryAfter), ResetAt: apitype.FlexString(*resetAt),
		Model: *model, FailureReason: *failure,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, res)
	}
	switch m := res.Marked; {
	case m == nil:
		fmt.Fprintln(e.Stdout, "marked nothing (no entry matched, or the code is not an error)")
	case m.Model != "" && m.Until != nil:
		fmt.Fprintf(e.Stdout, "marked %s benched for %s until %s\n", m.ID, printable(m.Model), formatTime(*m.Until))
	case m.Until != nil:
		fmt.Fprintf(e.Stdout, "marked %s %s until %s\n", m.ID, m.Status, formatTime(*m.Until))
	default:
		fmt.Fprintf(e.Stdout, "marked %s %s\n", m.ID, m.Status)
	}
	warnUnpersisted(e, res.Persistence)
	if res.Next != nil {
		fmt.Fprintf(e.Stdout, "next   %s  %s\n", res.Next.ID, printable(res.Next.Label))
	} else {
		fmt.Fprintln(e.Stdout, "next   none available")
	}
	return nil
}

func runRelease(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "release")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("release needs exactly one LEASE_ID")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	return client(s).Release(ctx, pos[0])
}

func runEvents(ctx context.Context, e Env, args []string) error {
	fs, l := flags(e, "events")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("events takes no arguments")
	}
	s, err := load(e, l)
	if err != nil {
		return err
	}
	events, errs := client(s).Events(ctx)
	enc := json.NewEncoder(e.Stdout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				select {
				case err := <-errs:
					if err != nil && ctx.Err() == nil {
						return err
					}
				default:
				}
				return nil
			}
			if err := enc.Encode(ev); err != nil {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
