package blobsweep_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestEveryBlobPutRecordsARef reads the server's source: every call that stores a blob (a Put of
// three arguments on something named like a blob store) must be in a function that records a
// reference (AddBlobRefs), or that calls a function of its package that does. A Put whose blob
// nobody refers to is deleted by the sweep after the grace period, so a new Put site without a
// reference fails here rather than losing data in production.
//
// It is a check of the source's shape, not of every path: a function that records a reference on
// one branch and stores a blob on another passes, and a Put through a variable not named like a
// blob store is not seen.
func TestEveryBlobPutRecordsARef(t *testing.T) {
	root := filepath.Join("..")
	fset := token.NewFileSet()
	pkgs := map[string][]*ast.File{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		dir := filepath.Dir(p)
		if base := filepath.Base(dir); base == "blob" || base == "testutil" {
			return nil // the drivers themselves, and test helpers
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, p, src, 0)
		if err != nil {
			return err
		}
		pkgs[dir] = append(pkgs[dir], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var sites, missing []string
	for _, files := range pkgs {
		funcs := map[string]*ast.FuncDecl{}
		for _, f := range files {
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
					funcs[fd.Name.Name] = fd
				}
			}
		}
		recordsRef := func(fd *ast.FuncDecl) bool { return calls(fd, "AddBlobRefs") }
		for _, fd := range funcs {
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 3 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Put" || !strings.Contains(strings.ToLower(exprText(sel.X)), "blobs") {
					return true
				}
				pos := fset.Position(call.Pos())
				site := filepath.ToSlash(pos.Filename) + " " + fd.Name.Name
				sites = append(sites, site)
				ok = recordsRef(fd)
				for name := range calledNames(fd) {
					if callee := funcs[name]; callee != nil && callee != fd && recordsRef(callee) {
						ok = true
					}
				}
				if !ok {
					missing = append(missing, site)
				}
				return true
			})
		}
	}
	sort.Strings(sites)
	t.Logf("blob Put sites: %q", sites)
	// The sites known when this test was written: agent outputs, the native API, render transfers
	// (three) and stitched frames, RPA files and packages, the AI task center's mirror.
	if len(sites) < 9 {
		t.Fatalf("found %d blob Put sites, want at least 9: the search no longer finds them", len(sites))
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Fatalf("blob Put sites that record no reference (the sweep would delete their blobs): %q", missing)
	}
}

// calls reports whether fd calls a function or method named name.
func calls(fd *ast.FuncDecl, name string) bool {
	_, ok := calledNames(fd)[name]
	return ok
}

// calledNames is the set of names fd calls (plain functions and methods alike).
func calledNames(fd *ast.FuncDecl) map[string]struct{} {
	out := map[string]struct{}{}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			switch f := call.Fun.(type) {
			case *ast.Ident:
				out[f.Name] = struct{}{}
			case *ast.SelectorExpr:
				out[f.Sel.Name] = struct{}{}
			}
		}
		return true
	})
	return out
}

// exprText spells a selector chain such as a.cfg.Blobs.
func exprText(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprText(x.X) + "." + x.Sel.Name
	}
	return ""
}
