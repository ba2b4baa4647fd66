// Command listunits prints every unit of the say engine as "name<TAB>text",
// the list prompts/generate.sh records into prompts/units/.
package main

import (
	"fmt"

	"github.com/traffic12123/gateway/pkg/ivr/say"
)

func main() {
	for _, u := range say.Units() {
		fmt.Printf("%s\t%s\n", u.Name, u.Text)
	}
}
