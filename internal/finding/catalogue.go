package finding

import (
	_ "embed"
	"fmt"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Code is one entry of the catalogue.
type Code struct {
	Code     string   `yaml:"code" json:"code"`
	Area     string   `yaml:"area" json:"area"`
	Severity Severity `yaml:"severity" json:"severity"`
	Title    string   `yaml:"title" json:"title"`
	Symptom  string   `yaml:"symptom" json:"symptom"`
	Advice   string   `yaml:"advice" json:"advice"`
}

//go:embed catalogue.yaml
var catalogueYAML []byte

var (
	catalogue []Code
	byCode    map[string]int
)

func init() {
	cs, err := parseCatalogue(catalogueYAML)
	if err != nil {
		panic("finding: embedded catalogue: " + err.Error())
	}
	catalogue = cs
	byCode = make(map[string]int, len(cs))
	for i, c := range cs {
		byCode[c.Code] = i
	}
}

func parseCatalogue(b []byte) ([]Code, error) {
	var cs []Code
	if err := yaml.Unmarshal(b, &cs); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, c := range cs {
		if c.Code == "" || c.Title == "" || c.Advice == "" || c.Area == "" {
			return nil, fmt.Errorf("entry %q lacks code, area, title or advice", c.Code)
		}
		if seen[c.Code] {
			return nil, fmt.Errorf("code %q listed twice", c.Code)
		}
		seen[c.Code] = true
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Code < cs[j].Code })
	return cs, nil
}

// Catalogue returns every code, sorted by code.
func Catalogue() []Code { return append([]Code(nil), catalogue...) }

// Lookup returns the catalogue entry of a code.
func Lookup(code string) (Code, bool) {
	i, ok := byCode[code]
	if !ok {
		return Code{}, false
	}
	return catalogue[i], true
}
