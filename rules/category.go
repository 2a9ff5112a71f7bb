package rules

import "sort"

// Category is a built-in category of personal data and the mask a column of
// that category gets when a decision neither reveals nor masks it.
//
// Categories are open-ended: a rules file may use any name that
// ValidCategoryName accepts. A category that is not built in defaults to
// redact. Category names are exact: there are no aliases (use birth_date,
// not date_of_birth; national_id, not ssn), so that a policy that masks a
// category always sees the same name the rules file used.
type Category struct {
	// Name is the category name used in rules files and policies.
	Name string
	// Default is the mask the category's columns get when a decision says
	// nothing about them.
	Default Mask
	// Description says what the category holds.
	Description string
}

// CategoryUnclassified is the category of a column that no rule names when
// the rules file says `unclassified: mask`. Policies may reveal or mask it
// like any other category.
const CategoryUnclassified = "unclassified"

// builtinCategories is sorted by Name (checked by a test). The defaults are
// chosen so that a decision that forgets a category still hides the value
// (or keeps only the part that is commonly shown to support staff: an e-mail
// domain, the last four digits of a phone or card, a birth year, an IP
// network).
var builtinCategories = [...]Category{
	{"address", Mask{Action: ActionRedact}, "postal address or any part of it"},
	{"bank_account", Mask{Action: ActionLast4, Keep: 4}, "bank account number other than an IBAN"},
	{"biometric", Mask{Action: ActionNull}, "biometric data (GDPR art. 9)"},
	{"birth_date", Mask{Action: ActionYear}, "date of birth"},
	{"device_id", Mask{Action: ActionHash}, "device, advertising or cookie identifier"},
	{"email", Mask{Action: ActionEmail}, "e-mail address"},
	{"free_text", Mask{Action: ActionRedact}, "free text that may mention anything (notes, comments)"},
	{"gender", Mask{Action: ActionRedact}, "gender or sex"},
	{"geolocation", Mask{Action: ActionRedact}, "coordinates or precise location"},
	{"health", Mask{Action: ActionNull}, "data concerning health (GDPR art. 9)"},
	{"iban", Mask{Action: ActionLast4, Keep: 4}, "international bank account number"},
	{"ip_address", Mask{Action: ActionIPPrefix}, "IP address"},
	{"message_body", Mask{Action: ActionRedact}, "content of a message (SMS, e-mail, chat)"},
	{"name", Mask{Action: ActionRedact}, "a person's name or part of it"},
	{"national_id", Mask{Action: ActionRedact}, "national identity number (SSN, passport, ID card)"},
	{"password", Mask{Action: ActionNull}, "password, password hash or other secret"},
	{"payment_card", Mask{Action: ActionLast4, Keep: 4}, "payment card number (PAN)"},
	{"phone", Mask{Action: ActionLast4, Keep: 4}, "telephone number"},
	{"postal_code", Mask{Action: ActionRedact}, "postal code"},
	{"special", Mask{Action: ActionNull}, "other special categories (GDPR art. 9: ethnicity, religion, politics, union membership, sexual orientation, genetics)"},
	{"tax_id", Mask{Action: ActionRedact}, "tax identification number"},
	{CategoryUnclassified, Mask{Action: ActionRedact}, "a column no rule names, under `unclassified: mask`"},
	{"user_agent", Mask{Action: ActionRedact}, "HTTP user agent or device fingerprint"},
	{"username", Mask{Action: ActionHash}, "login or handle"},
}

// BuiltinCategories returns the built-in categories sorted by name. The
// slice is a copy.
func BuiltinCategories() []Category {
	out := make([]Category, len(builtinCategories))
	copy(out, builtinCategories[:])
	return out
}

func findCategory(name string) (Category, bool) {
	i := sort.Search(len(builtinCategories), func(i int) bool { return builtinCategories[i].Name >= name })
	if i < len(builtinCategories) && builtinCategories[i].Name == name {
		return builtinCategories[i], true
	}
	return Category{}, false
}

// IsBuiltinCategory reports whether name is a built-in category.
func IsBuiltinCategory(name string) bool {
	_, ok := findCategory(name)
	return ok
}

// DefaultMask returns the mask a column of the given category gets when a
// decision neither reveals nor masks it: the built-in default, or redact for
// a category that is not built in.
func DefaultMask(category string) Mask {
	if c, ok := findCategory(category); ok {
		return c.Default
	}
	return Mask{Action: ActionRedact}
}

// ValidCategoryName reports whether s can name a category: 1 to 63 bytes of
// lower-case ASCII letters, digits and underscores, starting with a letter.
// Category names never contain a dot, which is how decision keys tell a
// category ("email") from a column ("public.customers.email").
func ValidCategoryName(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
