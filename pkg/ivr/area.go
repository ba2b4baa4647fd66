package ivr

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// provinces maps the province names of the public numbering plan's
// geocoding (Chinese) to the first two digits of their GB/T 2260 division
// codes.
var provinces = []struct{ name, code string }{
	{"北京", "11"}, {"天津", "12"}, {"河北", "13"}, {"山西", "14"}, {"内蒙古", "15"},
	{"辽宁", "21"}, {"吉林", "22"}, {"黑龙江", "23"}, {"上海", "31"}, {"江苏", "32"},
	{"浙江", "33"}, {"安徽", "34"}, {"福建", "35"}, {"江西", "36"}, {"山东", "37"},
	{"河南", "41"}, {"湖北", "42"}, {"湖南", "43"}, {"广东", "44"}, {"广西", "45"},
	{"海南", "46"}, {"重庆", "50"}, {"四川", "51"}, {"贵州", "52"}, {"云南", "53"},
	{"西藏", "54"}, {"陕西", "61"}, {"甘肃", "62"}, {"青海", "63"}, {"宁夏", "64"},
	{"新疆", "65"},
}

// HomeArea returns the province prefix ("44") of a Chinese mobile number's
// home area in the public numbering plan (the number block it was issued
// from), "" when the plan does not say. It uses no personal record: what
// it tells is what the number itself tells anyone.
func HomeArea(phone string) string {
	num, err := phonenumbers.Parse(phone, "CN")
	if err != nil || num.GetCountryCode() != 86 {
		return ""
	}
	loc, err := phonenumbers.GetGeocodingForNumber(num, "zh")
	if err != nil {
		return ""
	}
	for _, p := range provinces {
		if strings.HasPrefix(loc, p.name) {
			return p.code
		}
	}
	return ""
}
