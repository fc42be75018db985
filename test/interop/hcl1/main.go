// hcl1-reader: reads HCL texts with hashicorp/hcl v1, the library SPIRE
// decodes its config files with, and prints what it read, for the
// differential test of Herald's HCL parser (test/common/config/hcl-hashicorp.test.ts).
//
//	hcl1-reader < texts.json > results.json
//
// In: a JSON array of texts. Out: a JSON array, for each text either
// {"error": "…"} or {"items": [item…]}, where
//
//	item = {"keys": [string…], "lines": [n…], "assign": bool, "val": node}
//	node = {"lit": value, "line": n} | {"list": [node…], "line": n} | {"obj": [item…], "line": n}
//
// and a literal's value is what hcl.Decode makes of it (token.Value: a
// string unquoted, a heredoc unindented, an int64, a float64, a bool); a
// value Decode would panic on is an error, as it fails SPIRE's config load.
// Without input (a terminal), it prints its usage and exits 2.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"
)

type item struct {
	Keys   []interface{} `json:"keys"`
	Lines  []int         `json:"lines"`
	Assign bool          `json:"assign"`
	Val    node          `json:"val"`
}

type node struct {
	Lit  interface{} `json:"lit"`
	List []node      `json:"list,omitempty"`
	Obj  []item      `json:"obj,omitempty"`
	Kind string      `json:"kind"`
	Line int         `json:"line"`
}

type result struct {
	Error string `json:"error,omitempty"`
	Items []item `json:"items"`
}

func value(t token.Token) interface{} {
	return t.Value() // panics on what Decode cannot read; recovered in read
}

func convNode(n ast.Node) node {
	switch v := n.(type) {
	case *ast.LiteralType:
		return node{Kind: "lit", Lit: value(v.Token), Line: v.Pos().Line}
	case *ast.ListType:
		out := node{Kind: "list", List: []node{}, Line: v.Pos().Line}
		for _, e := range v.List {
			out.List = append(out.List, convNode(e))
		}
		return out
	case *ast.ObjectType:
		return node{Kind: "obj", Obj: convItems(v.List), Line: v.Pos().Line}
	}
	panic(fmt.Sprintf("unknown node %T", n))
}

func convItems(l *ast.ObjectList) []item {
	out := []item{}
	for _, it := range l.Items {
		keys := []interface{}{}
		lines := []int{}
		for _, k := range it.Keys {
			lines = append(lines, k.Pos().Line)
			if k.Token.Type == token.STRING {
				keys = append(keys, value(k.Token))
			} else {
				keys = append(keys, k.Token.Text)
			}
		}
		out = append(out, item{Keys: keys, Lines: lines, Assign: it.Assign.IsValid(), Val: convNode(it.Val)})
	}
	return out
}

func read(text string) (r result) {
	defer func() {
		if p := recover(); p != nil {
			r = result{Error: fmt.Sprintf("panic: %v", p)}
		}
	}()
	f, err := parser.Parse([]byte(text))
	if err != nil {
		return result{Error: err.Error()}
	}
	return result{Items: convItems(f.Node.(*ast.ObjectList))}
}

func main() {
	if fi, err := os.Stdin.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		fmt.Fprintln(os.Stderr, "usage: hcl1-reader < texts.json (a JSON array of HCL texts)")
		os.Exit(2)
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var texts []string
	if err := json.Unmarshal(in, &texts); err != nil {
		fmt.Fprintln(os.Stderr, "usage: hcl1-reader < texts.json (a JSON array of HCL texts):", err)
		os.Exit(2)
	}
	out := make([]result, 0, len(texts))
	for _, t := range texts {
		out = append(out, read(t))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
