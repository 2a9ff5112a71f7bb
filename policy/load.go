package policy

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/util"
)

// maxFileBytes bounds one policy or data file read from disk.
const maxFileBytes = 64 << 20

// fileKind tells policy modules from data documents.
type fileKind uint8

const (
	kindRego fileKind = iota + 1
	kindData
)

// sourceFile is one file read from Paths.
type sourceFile struct {
	// name is the path as found (configured path joined with the walk), used
	// in error messages as file:line.
	name string
	kind fileKind
	raw  []byte
	// dataPath is where a data file's content goes under data (the
	// directories between the configured directory and the file).
	dataPath []string
}

// fileSet is the content of Paths at one moment.
type fileSet struct {
	files []sourceFile // sorted by name
	hash  [32]byte     // over names, kinds, data paths and contents
}

// policyExt reports the kind of a file by its extension, 0 if it is not a
// policy or data file.
func policyExt(name string) fileKind {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".rego":
		return kindRego
	case ".json", ".yaml", ".yml":
		return kindData
	}
	return 0
}

// hidden reports whether a directory entry is ignored: names starting with
// a dot (editor swap files, .git, .manifest of unpacked bundles).
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// walkPaths calls fn for every policy or data file of paths, in a
// deterministic order. An explicitly named file must be a policy or data
// file; a missing path is an error.
func walkPaths(paths []string, fn func(path string, info fs.FileInfo, kind fileKind, dataPath []string) error) error {
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			return fmt.Errorf("policy path: %w", err)
		}
		if !info.IsDir() {
			kind := policyExt(root)
			if kind == 0 {
				return fmt.Errorf("policy path %s: not a .rego, .json or .yaml file", root)
			}
			if err := fn(root, info, kind, nil); err != nil {
				return err
			}
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("policy path: %w", err)
			}
			if path != root && hidden(d.Name()) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				return nil
			}
			kind := policyExt(path)
			if kind == 0 {
				return nil
			}
			// Follow symlinks to files (Kubernetes ConfigMaps are symlinks).
			info, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("policy path: %w", err)
			}
			if info.IsDir() {
				return nil
			}
			var dataPath []string
			if kind == kindData {
				rel, err := filepath.Rel(root, filepath.Dir(path))
				if err == nil && rel != "." {
					dataPath = strings.Split(filepath.ToSlash(rel), "/")
				}
			}
			return fn(path, info, kind, dataPath)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// readFiles reads every policy and data file of paths.
func readFiles(paths []string) (*fileSet, error) {
	fset := &fileSet{}
	seen := map[string]bool{}
	err := walkPaths(paths, func(path string, info fs.FileInfo, kind fileKind, dataPath []string) error {
		if seen[path] {
			return nil
		}
		seen[path] = true
		if info.Size() > maxFileBytes {
			return fmt.Errorf("policy file %s: larger than %d bytes", path, maxFileBytes)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("policy file: %w", err)
		}
		fset.files = append(fset.files, sourceFile{name: path, kind: kind, raw: raw, dataPath: dataPath})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(fset.files, func(a, b sourceFile) int { return strings.Compare(a.name, b.name) })
	h := sha256.New()
	for _, f := range fset.files {
		writeField(h, f.name)
		writeField(h, string(rune('0'+f.kind)))
		writeField(h, strings.Join(f.dataPath, "/"))
		writeField(h, string(f.raw))
	}
	h.Sum(fset.hash[:0])
	return fset, nil
}

// writeField writes a length-prefixed string, so that concatenations cannot
// collide.
func writeField(h interface{ Write([]byte) (int, error) }, s string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	h.Write([]byte(s))
}

// statFingerprint is a cheap summary of the files of paths (names, sizes,
// modification times, modes): Run re-reads the files only when it changes.
// An error (a path that vanished) is part of the fingerprint too, so that a
// broken state is noticed once and its repair as well.
func statFingerprint(seed maphash.Seed, paths []string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	err := walkPaths(paths, func(path string, info fs.FileInfo, kind fileKind, _ []string) error {
		h.WriteString(path)
		var b [8 * 3]byte
		binary.LittleEndian.PutUint64(b[0:], uint64(info.Size()))
		binary.LittleEndian.PutUint64(b[8:], uint64(info.ModTime().UnixNano()))
		binary.LittleEndian.PutUint64(b[16:], uint64(info.Mode()))
		h.Write(b[:])
		return nil
	})
	if err != nil {
		h.WriteString("error: " + err.Error())
	}
	return h.Sum64()
}

// parseData decodes the data files of fset and merges them, with the
// bundle's data, into one document.
func mergeData(fset *fileSet, bundleData map[string]any) (map[string]any, error) {
	root := map[string]any{}
	if bundleData != nil {
		if err := mergeInto(root, nil, bundleData, "bundle data"); err != nil {
			return nil, err
		}
	}
	if fset == nil {
		return root, nil
	}
	for _, f := range fset.files {
		if f.kind != kindData {
			continue
		}
		var doc any
		if err := util.Unmarshal(f.raw, &doc); err != nil {
			return nil, fmt.Errorf("data file %s: %w", f.name, err)
		}
		if doc == nil {
			continue
		}
		if err := mergeInto(root, f.dataPath, doc, "data file "+f.name); err != nil {
			return nil, err
		}
	}
	return root, nil
}

// mergeInto places doc at path below root, merging objects and refusing to
// overwrite anything else.
func mergeInto(root map[string]any, path []string, doc any, what string) error {
	node := root
	for i, k := range path {
		next, ok := node[k]
		if !ok {
			m := map[string]any{}
			node[k] = m
			node = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: data.%s is already set to a value that is not an object", what, strings.Join(path[:i+1], "."))
		}
		node = m
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		if len(path) == 0 {
			return fmt.Errorf("%s: a data file at the root of a policy directory must hold an object", what)
		}
		parent := root
		for _, k := range path[:len(path)-1] {
			parent = parent[k].(map[string]any)
		}
		last := path[len(path)-1]
		if m, ok := parent[last].(map[string]any); ok && len(m) > 0 {
			return fmt.Errorf("%s: data.%s is already an object", what, strings.Join(path, "."))
		}
		parent[last] = doc
		return nil
	}
	return mergeObjects(node, obj, path, what)
}

func mergeObjects(dst, src map[string]any, path []string, what string) error {
	for k, v := range src {
		cur, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		cm, ok1 := cur.(map[string]any)
		vm, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("%s: conflicting values for data.%s", what, strings.Join(append(slices.Clone(path), k), "."))
		}
		if err := mergeObjects(cm, vm, append(slices.Clone(path), k), what); err != nil {
			return err
		}
	}
	return nil
}

// errNoDecision is returned when the policy does not define the decision
// rule.
var errNoDecision = errors.New("the policy defines no rule data.pgveil.decision (package pgveil, rule decision)")

// shortHash renders the first 8 bytes of a digest.
func shortHash(sum []byte) string { return hex.EncodeToString(sum[:8]) }
