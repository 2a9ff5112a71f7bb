package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// debianBinGlob is where Debian and Ubuntu install the server binaries, one
// directory per major version; they are not on PATH there.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// ErrNoBinaries is returned (wrapped) by Available and Start when initdb and
// postgres cannot be found.
var ErrNoBinaries = errors.New("postgres binaries not found")

// Available reports whether the PostgreSQL server binaries (initdb and
// postgres) can be found on PATH or under /usr/lib/postgresql/*/bin. It
// returns nil if they can, and an error wrapping ErrNoBinaries that says
// where it looked if not.
func Available() error {
	_, err := findBinDir("")
	return err
}

// findBinDir returns the directory holding both initdb and postgres: override
// if given, else the directory of the initdb found on PATH (symlinks
// resolved, so that postgres is taken from the same installation), else the
// highest-versioned Debian directory.
func findBinDir(override string) (string, error) {
	if override != "" {
		if !hasServerBinaries(override) {
			return "", fmt.Errorf("pgtest: %w in %s", ErrNoBinaries, override)
		}
		return override, nil
	}
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	debian, _ := filepath.Glob(debianBinGlob) // the pattern is valid: no error
	slices.SortFunc(debian, func(a, b string) int {
		return -compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	candidates = append(candidates, debian...)
	for _, dir := range candidates {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("pgtest: %w: need initdb and postgres on PATH or under %s (Debian/Ubuntu: apt-get install postgresql)", ErrNoBinaries, debianBinGlob)
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// compareVersions compares dotted numeric versions ("9.6" < "15" < "17");
// non-numeric parts compare as 0.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}
