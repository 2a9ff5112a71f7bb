package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// This file adds to Decision (decision.go) the rules for turning a decision
// into masks. Keys of Decision.Masks and entries of Decision.Reveal are
// either a category ("email", no dot) or a fully qualified column
// ("public.customers.email", exactly two dots).
//
// For a classified column, the first of these that applies wins:
//
//  1. the column key in Masks     -> that mask
//  2. the column key in Reveal    -> pass
//  3. the category key in Masks   -> that mask
//  4. the category key in Reveal  -> pass
//  5. the category's default mask (DefaultMask)
//
// A key in both Masks and Reveal is masked: a contradictory decision costs
// utility, never privacy. Forgetting a rule costs utility too: step 5 never
// reveals.

// Validate checks the decision's keys and mask names. The policy engine
// denies a statement whose decision does not validate, so the other methods
// may assume a valid decision; they still treat a malformed mask name as
// null rather than trusting it.
func (d *Decision) Validate() error {
	if d == nil {
		return errors.New("decision: nil")
	}
	var errs []error
	keys := make([]string, 0, len(d.Masks))
	for k := range d.Masks {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := validDecisionKey(k); err != nil {
			errs = append(errs, fmt.Errorf("decision masks: %w", err))
			continue
		}
		if _, err := ParseMask(d.Masks[k]); err != nil {
			errs = append(errs, fmt.Errorf("decision masks[%s]: %w", quoteName(k), err))
		}
	}
	for _, r := range d.Reveal {
		if err := validDecisionKey(r); err != nil {
			errs = append(errs, fmt.Errorf("decision reveal: %w", err))
		}
	}
	return errors.Join(errs...)
}

// validDecisionKey accepts a category name or "schema.table.column".
func validDecisionKey(k string) error {
	if !strings.Contains(k, ".") {
		if !ValidCategoryName(k) {
			return fmt.Errorf("key %s is neither a category name nor schema.table.column", quoteName(k))
		}
		return nil
	}
	parts := strings.Split(k, ".")
	if len(parts) != 3 || !validIdent(parts[0]) || !validIdent(parts[1]) || !validIdent(parts[2]) {
		return fmt.Errorf("column key %s must be schema.table.column", quoteName(k))
	}
	return nil
}

// lookup returns the mask the decision gives key, if any: its entry in Masks
// (a malformed name counts as null), else pass if Reveal lists it.
func (d *Decision) lookup(key string) (Mask, bool) {
	if name, ok := d.Masks[key]; ok {
		m, err := ParseMask(name)
		if err != nil {
			return Mask{Action: ActionNull}, true
		}
		return m, true
	}
	if slices.Contains(d.Reveal, key) {
		return Pass(), true
	}
	return Mask{}, false
}

// MaskFor returns the mask of a classified column of the given category
// (see the precedence above). A nil decision gives every column its
// category's default mask.
func (d *Decision) MaskFor(ref ColumnRef, category string) Mask {
	if d == nil {
		return DefaultMask(category)
	}
	if m, ok := d.lookup(ref.String()); ok {
		return m
	}
	if m, ok := d.lookup(category); ok {
		return m
	}
	return DefaultMask(category)
}

// OutputMask returns the mask of one output column of a statement, from its
// lineage (Output, produced by the SQL analysis), the catalog and the
// decision:
//
//   - no sources (a constant, now(), a parameter): pass;
//   - Unknown lineage: pass if the decision reveals everything, else redact;
//   - Direct (the stored value itself, possibly through views or UNION
//     branches) with the same mask for every source: that mask;
//   - otherwise (an expression, an aggregate, a mix): the Combine of every
//     source's mask, so format-preserving masks become redact.
//
// Sources that are not personal data count as pass.
func (d *Decision) OutputMask(c *Catalog, out Output) Mask {
	if out.Unknown {
		if d.RevealsAll(c) {
			return Pass()
		}
		return Mask{Action: ActionRedact}
	}
	if len(out.Sources) == 0 {
		return Pass()
	}
	combined, first, same := Pass(), Mask{}, true
	for i, src := range out.Sources {
		m := Pass()
		if cat, ok := c.Classify(src); ok {
			m = d.MaskFor(src, cat)
		}
		if i == 0 {
			first = m
		} else if m != first {
			same = false
		}
		combined = combined.Combine(m)
	}
	if out.Direct && same {
		return first
	}
	return combined
}

// RevealsAll reports whether the decision leaves every personal-data column
// of the catalog unmasked: every classified column resolves to pass and, if
// the catalog masks unclassified columns, the unclassified category is
// revealed. An identity whose decision reveals everything can have its
// results forwarded without plans. It costs one pass over the catalog;
// callers cache it with the decision.
func (d *Decision) RevealsAll(c *Catalog) bool {
	if c.Unclassified() == UnclassifiedMask {
		if d == nil {
			return false
		}
		if m, ok := d.lookup(CategoryUnclassified); !ok || !m.IsPass() {
			return false
		}
	}
	for ref, cat := range c.Columns() {
		if !d.MaskFor(ref, cat).IsPass() {
			return false
		}
	}
	return true
}

// HasMasks reports whether any personal-data column of the catalog would be
// masked for this decision: !RevealsAll(c).
func (d *Decision) HasMasks(c *Catalog) bool { return !d.RevealsAll(c) }
