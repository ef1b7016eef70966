package aws

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeCloud is an in-process EC2 and IAM at the SDK's endpoint: real
// requests from the real SDK, answered from state (resources, tags,
// quotas), with failures injectable at any request, and every request
// recorded in order.
type fakeCloud struct {
	t   testing.TB
	ec2 *httptest.Server
	iam *httptest.Server

	mu    sync.Mutex
	calls []call
	res   map[string]*fres
	ids   int

	zones      []string                 // per region, names are region+letter
	quota      map[string]int           // region → vCPU limit (on-demand); absent: unlimited
	spotQuota  map[string]int           // region → vCPU limit (spot)
	noCapacity map[string]bool          // zone/class without capacity
	iamLag     int                      // RunInstances failing as if the profile had not propagated
	bootPolls  int                      // describes before a pending VM runs
	lingerENI  int                      // group deletes refused after its VMs terminated
	inject     map[string]map[int]fault // action → occurrence (1-based) → fault
	onCall     func(c call)             // called as each request arrives, before it is served
	seen       map[string]int
}

type call struct {
	Service, Region, Action string
	Form                    url.Values
}

type fault struct {
	Code, Msg string
	Status    int
}

// fres is one resource of either service.
type fres struct {
	Kind, ID, Region string
	Tags             map[string]string
	VPC, Zone, CIDR  string
	State            string // instances
	Class, Token     string
	Spot             bool
	Groups           []string
	Subnet           string
	Public, Private  string
	Attached         string            // igw: vpc id
	Routes           map[string]string // route table: destination → gateway
	Assoc            map[string]string // route table: association id → subnet
	Perms            []url.Values      // security group rules as sent
	Policies         map[string]string // role: inline policies
	Roles            []string          // instance profile
	Path             string
	describes        int
}

var classCPUs = map[string]int{"m5.8xlarge": 32, "m5.4xlarge": 16, "m5.2xlarge": 8, "m5.xlarge": 4, "m5.large": 2}

func newFakeCloud(t testing.TB) *fakeCloud {
	f := &fakeCloud{t: t, res: map[string]*fres{}, zones: []string{"a", "b", "c"}, quota: map[string]int{}, spotQuota: map[string]int{},
		noCapacity: map[string]bool{}, bootPolls: 1, inject: map[string]map[int]fault{}, seen: map[string]int{}}
	f.ec2 = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.serve(w, r, "ec2") }))
	f.iam = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.serve(w, r, "iam") }))
	t.Cleanup(f.ec2.Close)
	t.Cleanup(f.iam.Close)
	t.Cleanup(func() { assertNothingOpenToWorld(t, f) })
	return f
}

// failAt makes the n-th request of action fail with a client error the
// SDK does not retry.
func (f *fakeCloud) failAt(action string, n int, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inject[action] == nil {
		f.inject[action] = map[int]fault{}
	}
	f.inject[action][n] = fault{Code: code, Msg: "injected failure", Status: 400}
}

var credRE = regexp.MustCompile(`Credential=[^/]+/[0-9]+/([a-z0-9-]+)/`)

func (f *fakeCloud) serve(w http.ResponseWriter, r *http.Request, svc string) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	region := ""
	if m := credRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil && svc == "ec2" {
		region = m[1]
	}
	c := call{Service: svc, Region: region, Action: form.Get("Action"), Form: form}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.seen[c.Action]++
	flt, injected := f.inject[c.Action][f.seen[c.Action]]
	hook := f.onCall
	f.mu.Unlock()
	if hook != nil {
		hook(c)
	}
	if injected {
		f.writeErr(w, svc, flt)
		return
	}
	f.mu.Lock()
	var out string
	var ferr *fault
	if svc == "ec2" {
		out, ferr = f.ec2Action(c)
	} else {
		out, ferr = f.iamAction(c)
	}
	f.mu.Unlock()
	if ferr != nil {
		f.writeErr(w, svc, *ferr)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	if svc == "ec2" {
		fmt.Fprintf(w, `<%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>%s</%sResponse>`, c.Action, out, c.Action)
	} else {
		fmt.Fprintf(w, `<%sResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><%sResult>%s</%sResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></%sResponse>`,
			c.Action, c.Action, out, c.Action, c.Action)
	}
}

func (f *fakeCloud) writeErr(w http.ResponseWriter, svc string, e fault) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Status)
	if svc == "ec2" {
		fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>r</RequestID></Response>`, e.Code, html.EscapeString(e.Msg))
		return
	}
	fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, e.Code, html.EscapeString(e.Msg))
}

func errf(status int, code, format string, args ...any) *fault {
	return &fault{Code: code, Msg: fmt.Sprintf(format, args...), Status: status}
}

// --- form helpers: EC2 and IAM flatten lists as Name.N[.Sub] ---

// items returns the sub-forms Name.1., Name.2., … in index order.
func items(form url.Values, name string) []url.Values {
	byIdx := map[int]url.Values{}
	for k, vs := range form {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok {
			continue
		}
		idx, sub, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if err != nil {
			continue
		}
		if byIdx[n] == nil {
			byIdx[n] = url.Values{}
		}
		byIdx[n][sub] = vs
	}
	var keys []int
	for k := range byIdx {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]url.Values, len(keys))
	for i, k := range keys {
		out[i] = byIdx[k]
	}
	return out
}

// values returns Name.1, Name.2, … for a list of strings.
func values(form url.Values, name string) []string {
	var out []string
	for _, it := range items(form, name) {
		out = append(out, it.Get(""))
	}
	return out
}

func (f *fakeCloud) newID(prefix string) string {
	f.ids++
	return fmt.Sprintf("%s-%08x", prefix, f.ids)
}

// specTags returns the tags a TagSpecification list gives resource type rt.
func specTags(form url.Values, rt string) map[string]string {
	tags := map[string]string{}
	for _, ts := range items(form, "TagSpecification") {
		if ts.Get("ResourceType") != rt {
			continue
		}
		for _, tg := range items(ts, "Tag") {
			tags[tg.Get("Key")] = tg.Get("Value")
		}
	}
	return tags
}

func tagSet(tags map[string]string) string {
	var b strings.Builder
	b.WriteString("<tagSet>")
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "<item><key>%s</key><value>%s</value></item>", html.EscapeString(k), html.EscapeString(tags[k]))
	}
	b.WriteString("</tagSet>")
	return b.String()
}

// filterValues says what a resource shows for a filter name.
func (r *fres) filterValues(name string) ([]string, bool) {
	if k, ok := strings.CutPrefix(name, "tag:"); ok {
		v, has := r.Tags[k]
		if !has {
			return nil, true
		}
		return []string{v}, true
	}
	switch name {
	case "vpc-id":
		return []string{r.VPC}, true
	case "attachment.vpc-id":
		return []string{r.Attached}, true
	case "availability-zone":
		return []string{r.Zone}, true
	case "instance-id":
		return []string{r.ID}, true
	case "instance-state-name":
		return []string{r.State}, true
	}
	return nil, false
}

// list returns the region's resources of kind matching the request's
// filters, in id order; an unknown filter is a client error, as in EC2.
func (f *fakeCloud) list(c call, kind string) ([]*fres, *fault) {
	var out []*fres
	filters := items(c.Form, "Filter")
	for _, r := range f.res {
		if r.Kind != kind || r.Region != c.Region {
			continue
		}
		ok := true
		for _, fl := range filters {
			have, known := r.filterValues(fl.Get("Name"))
			if !known {
				return nil, errf(400, "InvalidParameterValue", "filter %q not supported by the fake", fl.Get("Name"))
			}
			match := false
			for _, want := range values(fl, "Value") {
				for _, h := range have {
					if m, _ := path.Match(want, h); m {
						match = true
					}
				}
			}
			ok = ok && match
		}
		if ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *fres) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeCloud) get(c call, kind, id, code string) (*fres, *fault) {
	r := f.res[id]
	if r == nil || r.Kind != kind || (r.Region != c.Region && c.Service == "ec2") {
		return nil, errf(400, code, "the %s %q does not exist", kind, id)
	}
	return r, nil
}

// skyplane lists what carries a skyplane tag or lives under the IAM path:
// what must be gone after teardown (terminated VMs excepted).
func (f *fakeCloud) skyplane() []*fres {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fres
	for _, r := range f.res {
		if r.Kind == "instance" && r.State == "terminated" {
			continue
		}
		if _, ok := r.Tags[TagRole]; ok || r.Path == iamPath {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *fres) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// mutations lists the recorded requests that change state, as
// "region Action" (IAM: "iam Action").
func (f *fakeCloud) mutations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c.Action, "Describe") || strings.HasPrefix(c.Action, "List") || strings.HasPrefix(c.Action, "Get") {
			continue
		}
		where := c.Region
		if c.Service == "iam" {
			where = "iam"
		}
		out = append(out, where+" "+c.Action)
	}
	return out
}

func (f *fakeCloud) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}
