package kubernetes_test

import (
	"fmt"
	"strconv"
	"strings"
)

// parseYAML parses the subset of YAML the manifests use: documents split
// by "---", block mappings ("key: value", "key:" and a deeper block),
// block sequences ("- item", "- key: value" starting a mapping), comment
// lines, and scalars: double-quoted strings, integers, true/false, plain
// strings, [] and {}. Anything else is an error.
func parseYAML(src string) ([]any, error) {
	var docs []any
	for doc := range strings.SplitSeq(src, "\n---\n") {
		var lines []yline
		for i, raw := range strings.Split(doc, "\n") {
			trimmed := strings.TrimSpace(raw)
			if trimmed == "" || strings.HasPrefix(trimmed, "#") || trimmed == "---" {
				continue
			}
			if strings.Contains(raw, "\t") {
				return nil, fmt.Errorf("line %d: a tab", i+1)
			}
			lines = append(lines, yline{indent: len(raw) - len(strings.TrimLeft(raw, " ")), text: trimmed, n: i + 1})
		}
		if len(lines) == 0 {
			continue
		}
		p := &yparser{lines: lines}
		v, err := p.block(lines[0].indent)
		if err != nil {
			return nil, err
		}
		if p.i != len(lines) {
			return nil, fmt.Errorf("line %d: unexpected indentation", lines[p.i].n)
		}
		docs = append(docs, v)
	}
	return docs, nil
}

type yline struct {
	indent int
	text   string
	n      int
}

type yparser struct {
	lines []yline
	i     int
}

// block parses the mapping or sequence whose lines start at indent.
func (p *yparser) block(indent int) (any, error) {
	if strings.HasPrefix(p.lines[p.i].text, "- ") || p.lines[p.i].text == "-" {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yparser) sequence(indent int) ([]any, error) {
	var seq []any
	for p.i < len(p.lines) && p.lines[p.i].indent == indent && strings.HasPrefix(p.lines[p.i].text+" ", "- ") {
		l := p.lines[p.i]
		rest := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		switch {
		case rest == "":
			p.i++
			if p.i == len(p.lines) || p.lines[p.i].indent <= indent {
				return nil, fmt.Errorf("line %d: empty item", l.n)
			}
			v, err := p.block(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			seq = append(seq, v)
		case isKey(rest):
			// "- key: value": a mapping whose lines are indented as rest.
			p.lines[p.i] = yline{indent: indent + 2, text: rest, n: l.n}
			v, err := p.mapping(indent + 2)
			if err != nil {
				return nil, err
			}
			seq = append(seq, v)
		default:
			v, err := scalar(rest, l.n)
			if err != nil {
				return nil, err
			}
			seq = append(seq, v)
			p.i++
		}
	}
	return seq, nil
}

func (p *yparser) mapping(indent int) (map[string]any, error) {
	m := make(map[string]any)
	for p.i < len(p.lines) && p.lines[p.i].indent == indent {
		l := p.lines[p.i]
		if !isKey(l.text) {
			return nil, fmt.Errorf("line %d: %q is not key: value", l.n, l.text)
		}
		key, val, _ := strings.Cut(l.text, ":")
		val = strings.TrimSpace(val)
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: key %q twice", l.n, key)
		}
		p.i++
		if val != "" {
			v, err := scalar(val, l.n)
			if err != nil {
				return nil, err
			}
			m[key] = v
			continue
		}
		if p.i == len(p.lines) || p.lines[p.i].indent < indent ||
			p.lines[p.i].indent == indent && !strings.HasPrefix(p.lines[p.i].text, "- ") {
			m[key] = nil
			continue
		}
		v, err := p.block(p.lines[p.i].indent)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
	if p.i < len(p.lines) && p.lines[p.i].indent > indent {
		return nil, fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].n)
	}
	return m, nil
}

// isKey reports whether s starts with "key:" followed by a space or the
// end (a plain key of letters, digits and ./_-).
func isKey(s string) bool {
	key, rest, ok := strings.Cut(s, ":")
	if !ok || key == "" || rest != "" && rest[0] != ' ' {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("./_-", r)) {
			return false
		}
	}
	return true
}

func scalar(s string, n int) (any, error) {
	switch {
	case s == "[]":
		return []any{}, nil
	case s == "{}":
		return map[string]any{}, nil
	case s == "true" || s == "false":
		return s == "true", nil
	case strings.HasPrefix(s, `"`):
		v, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		return v, nil
	case strings.ContainsAny(s[:1], "[{'&*!|>%@`"):
		return nil, fmt.Errorf("line %d: %q: not in the subset", n, s)
	}
	if i, err := strconv.Atoi(s); err == nil {
		return i, nil
	}
	return s, nil
}
