package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

func unknownKeyError(key string) error {
	if s := suggest(normalizeKey(key)); len(s) > 0 {
		return fmt.Errorf("%w %q: did you mean %s? (run `skyplane config list` for all keys)",
			ErrUnknownKey, key, strings.Join(s, " or "))
	}
	return fmt.Errorf("%w %q: run `skyplane config list` for all keys", ErrUnknownKey, key)
}

// suggest returns up to 5 keys close to q: by edit distance, to the whole
// key or to its start (a truncated key such as multipart_chunk_sz), or
// containing q.
func suggest(q string) []string {
	type cand struct {
		name string
		dist int
	}
	var cs []cand
	limit := max(2, len(q)/4)
	for i := range defs {
		name := defs[i].name
		d := editDistance(q, name)
		if len(q) >= 6 && len(q) < len(name) {
			d = min(d, editDistance(q, name[:len(q)]))
		}
		if d <= limit || (len(q) >= 3 && strings.Contains(name, q)) {
			cs = append(cs, cand{name, d})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.dist != b.dist {
			return a.dist - b.dist
		}
		return strings.Compare(a.name, b.name)
	})
	var out []string
	for i, c := range cs {
		if i == 5 {
			break
		}
		out = append(out, strconv.Quote(c.name))
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
