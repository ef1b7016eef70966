// Package faults talks to a toxiproxy server (github.com/Shopify/toxiproxy,
// v2 HTTP API) so tests can put fault-injecting TCP proxies on the links
// between gateways. Tests only: nothing here runs unless a test asks for it.
//
// The client speaks the API with net/http rather than importing toxiproxy's
// own client module.
package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Toxic is one toxic in toxiproxy's own JSON format, e.g.
//
//	{"type":"reset_peer","attributes":{"timeout":0},"toxicity":0.1}
//	{"type":"limit_data","stream":"upstream","attributes":{"bytes":4194304}}
//
// Name defaults (server side) to "<type>_<stream>"; Stream to "downstream";
// Toxicity (the share of connections the toxic applies to) to 1.
type Toxic struct {
	Name       string         `json:"name,omitempty"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream,omitempty"`
	Toxicity   *float64       `json:"toxicity,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Proxy is a toxiproxy proxy as the API describes it.
type Proxy struct {
	Name     string  `json:"name"`
	Listen   string  `json:"listen"`
	Upstream string  `json:"upstream"`
	Enabled  bool    `json:"enabled"`
	Toxics   []Toxic `json:"toxics,omitempty"`
}

// Client is a toxiproxy API client.
type Client struct {
	base string
	http *http.Client
}

// NewClient returns a client of the API at base, e.g. "http://127.0.0.1:8474".
func NewClient(base string) *Client {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second}}
}

// RandomPrefix is a fresh proxy-name prefix, e.g. "skyplane-3f9a0c1b2d".
func RandomPrefix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "skyplane-" + hex.EncodeToString(b)
}

// ProxyName makes a valid proxy name from parts (anything but letters,
// digits, '-', '_' and '.' becomes '_').
func ProxyName(parts ...string) string {
	s := strings.Join(parts, "-")
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("toxiproxy %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("toxiproxy %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("toxiproxy %s %s: decoding %q: %w", method, path, b, err)
		}
	}
	return nil
}

// CreateProxy creates an enabled proxy from listen (e.g. "127.0.0.1:0") to
// upstream and returns it; its Listen is the address actually bound.
func (c *Client) CreateProxy(ctx context.Context, name, listen, upstream string) (Proxy, error) {
	var p Proxy
	err := c.do(ctx, http.MethodPost, "/proxies", Proxy{Name: name, Listen: listen, Upstream: upstream, Enabled: true}, &p)
	if err == nil && (p.Listen == "" || strings.HasSuffix(p.Listen, ":0")) {
		// Older servers answer before binding: ask again.
		p, err = c.Proxy(ctx, name)
	}
	return p, err
}

// Proxy fetches one proxy.
func (c *Client) Proxy(ctx context.Context, name string) (Proxy, error) {
	var p Proxy
	err := c.do(ctx, http.MethodGet, "/proxies/"+url.PathEscape(name), nil, &p)
	return p, err
}

// Proxies lists every proxy whose name starts with prefix.
func (c *Client) Proxies(ctx context.Context, prefix string) ([]Proxy, error) {
	all := map[string]Proxy{}
	if err := c.do(ctx, http.MethodGet, "/proxies", nil, &all); err != nil {
		return nil, err
	}
	var out []Proxy
	for name, p := range all {
		if strings.HasPrefix(name, prefix) {
			out = append(out, p)
		}
	}
	return out, nil
}

// AddToxic adds t to a proxy and returns it as created (with its name).
func (c *Client) AddToxic(ctx context.Context, proxy string, t Toxic) (Toxic, error) {
	var out Toxic
	err := c.do(ctx, http.MethodPost, "/proxies/"+url.PathEscape(proxy)+"/toxics", t, &out)
	return out, err
}

// AddRawToxic adds a toxic given as toxiproxy JSON.
func (c *Client) AddRawToxic(ctx context.Context, proxy string, t json.RawMessage) error {
	return c.do(ctx, http.MethodPost, "/proxies/"+url.PathEscape(proxy)+"/toxics", t, nil)
}

// Toxics lists a proxy's toxics.
func (c *Client) Toxics(ctx context.Context, proxy string) ([]Toxic, error) {
	var out []Toxic
	err := c.do(ctx, http.MethodGet, "/proxies/"+url.PathEscape(proxy)+"/toxics", nil, &out)
	return out, err
}

// RemoveToxic deletes one toxic of a proxy.
func (c *Client) RemoveToxic(ctx context.Context, proxy, toxic string) error {
	return c.do(ctx, http.MethodDelete, "/proxies/"+url.PathEscape(proxy)+"/toxics/"+url.PathEscape(toxic), nil, nil)
}

// RemoveToxics deletes every toxic of every proxy whose name starts with
// prefix and returns how many it removed.
func (c *Client) RemoveToxics(ctx context.Context, prefix string) (int, error) {
	ps, err := c.Proxies(ctx, prefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range ps {
		ts, err := c.Toxics(ctx, p.Name)
		if err != nil {
			return n, err
		}
		for _, t := range ts {
			if err := c.RemoveToxic(ctx, p.Name, t.Name); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// DeleteProxy deletes a proxy and closes its connections.
func (c *Client) DeleteProxy(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/proxies/"+url.PathEscape(name), nil, nil)
}

// DeleteProxies deletes every proxy whose name starts with prefix.
func (c *Client) DeleteProxies(ctx context.Context, prefix string) error {
	ps, err := c.Proxies(ctx, prefix)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := c.DeleteProxy(ctx, p.Name); err != nil {
			return err
		}
	}
	return nil
}
