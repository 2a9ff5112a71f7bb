package rules

// This file exposes the masks to code that rewrites stored values (retention,
// erasure) rather than result rows, so that a value redacted in the database
// is exactly what the proxy would show for the same mask.

// ValueMask applies one mask to single values of one column type, in the
// type's text format: the form that `column::text` returns and that
// `$1::type` accepts. It is the one-column case of a Plan and produces what a
// Plan produces for a text-format result column of the same type (MASKS.md),
// so stored-data operations and the proxy agree byte for byte.
//
// A ValueMask is not safe for concurrent use (the hash mask keeps scratch
// state); compile one per goroutine.
type ValueMask struct {
	p    *Plan
	mask Mask
}

// CompileValueMask prepares m for values of the type typeOID with the type
// modifier typmod (-1 if none; it bounds redaction constants of varchar(n)
// and char(n)). Pass a domain's base type. opts.TextTypes lists extension
// types that are text (citext); opts.HashKey is required by the hash mask.
// Every (type, mask) combination the package cannot produce compiles to
// NULL, as in Compile.
func CompileValueMask(m Mask, typeOID uint32, typmod int32, opts PlanOptions) (*ValueMask, error) {
	p, err := Compile([]Column{{Name: "value", TypeOID: typeOID, TypeMod: typmod, Mask: m}}, opts)
	if err != nil {
		return nil, err
	}
	return &ValueMask{p: p, mask: m}, nil
}

// Mask returns the mask the ValueMask applies.
func (vm *ValueMask) Mask() Mask { return vm.mask }

// AlwaysNull reports whether the mask turns every value of the type into
// SQL NULL (the null mask, and every combination the package cannot
// produce for the type).
func (vm *ValueMask) AlwaysNull() bool { return vm.p.cols[0].op == opNull }

// Constant returns the text form of the value every input becomes, when the
// mask replaces each value with one constant (redact of a type that has a
// redaction constant); ok is false otherwise. The caller may modify the
// returned slice.
func (vm *ValueMask) Constant() (v []byte, ok bool) {
	c := &vm.p.cols[0]
	if c.op != opConst {
		return nil, false
	}
	return append([]byte(nil), c.konst...), true
}

// AppendText appends the masked form of the non-NULL value v (in the type's
// text format) to dst. ok is false when the result is SQL NULL; dst is then
// returned unchanged. It does not retain v.
func (vm *ValueMask) AppendText(dst, v []byte) (out []byte, ok bool) {
	return vm.p.maskValue(0, dst, v)
}

// MaskText applies m to one text value as the proxy does for a text column
// in text format: MaskText(last4, "+1 555 123 4567") is "***********4567".
// ok is false when the result is SQL NULL (the null mask, an e-mail mask of a
// value that is not an address, the hash mask, which needs a key: use
// CompileValueMask with PlanOptions.HashKey for it).
func MaskText(m Mask, v string) (masked string, ok bool) {
	if m.Action == ActionHash {
		return "", false
	}
	vm, err := CompileValueMask(m, oidText, -1, PlanOptions{})
	if err != nil {
		return "", false
	}
	out, ok := vm.AppendText(nil, []byte(v))
	if !ok {
		return "", false
	}
	return string(out), true
}
