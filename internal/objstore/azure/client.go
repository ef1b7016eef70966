package azure

import (
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// retryOptions: exponential backoff, 5 tries in all, for 408/429/500/502/503/504 and
// transport errors. What still fails is mapped (Retryable where it makes sense).
var retryOptions = policy.RetryOptions{
	MaxRetries:    4,
	RetryDelay:    500 * time.Millisecond,
	MaxRetryDelay: 15 * time.Second,
}

func (s *Store) clientOptions() *container.ClientOptions {
	return &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:            retryOptions,
		Telemetry:        policy.TelemetryOptions{ApplicationID: "skyplane-go"},
		PerCallPolicies:  []policy.Policy{newTries{}},
		PerRetryPolicies: []policy.Policy{countTries{s.retries}},
	}}
}

// tries is the number of tries of one operation so far. newTries gives each
// operation its own; the retry policy's copies of the request share it.
type tries struct{ n int }

type newTries struct{}

func (newTries) Do(req *policy.Request) (*http.Response, error) {
	req.SetOperationValue(&tries{})
	return req.Next()
}

// countTries runs once per try, so every try after an operation's first is
// one retry.
type countTries struct{ counter *objstore.RetryCounter }

func (c countTries) Do(req *policy.Request) (*http.Response, error) {
	var t *tries
	if req.OperationValue(&t) {
		if t.n++; t.n > 1 {
			c.counter.Add()
		}
	}
	return req.Next()
}
