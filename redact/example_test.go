package redact_test

import (
	"fmt"

	"github.com/credpool/credpool/redact"
)

func ExampleRedactor_String() {
	// Every access and refresh token of the pool.
	r := redact.New("sk-proj-SECRETx8Qw3_Lk-19", "oauthSECRETa1b2c3d4e5f6")
	fmt.Println(r.String("Incorrect API key provided: sk-proj-SECRETx8Qw3_Lk-19."))
	fmt.Println(r.String("refresh token oauthSECRETa1… was revoked"))
	fmt.Println(r.String("upstream sent Authorization: Bearer ghp_SECRET0123456789abcdef"))
	fmt.Println(r.String("rate limit exceeded"))
	// Output:
	// Incorrect API key provided: …k-19.
	// refresh token [redacted]… was revoked
	// upstream sent Authorization: Bearer [redacted]
	// rate limit exceeded
}

func ExampleText() {
	fmt.Println(redact.Text("key xai-SECRETa1B2c3D4e5F6 rejected (risk-assessment task-1)"))
	// Output:
	// key [redacted] rejected (risk-assessment task-1)
}
