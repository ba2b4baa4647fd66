package template

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Library returns the CEL helper functions shared by rule conditions and
// templates. Calendar arithmetic happens in loc (the set's time zone,
// Asia/Shanghai by default), so "30 days before at 09:00" means 09:00 in
// Beijing whatever the server's zone.
//
//	days_between(a, b timestamp) int      calendar days from a's date to b's date (negative if b is earlier)
//	add_days(t timestamp, n int) timestamp same local time n calendar days later
//	at_local(t timestamp, "HH:MM") timestamp t's local date at that local time
//	date(t) string                         "2026年6月10日" (no zero padding)
//	datetime(t) string                     "2026年6月10日10时05分"
//	date_key(t) string                     "2026年06月10日": the zero-padded form dedupe and cancel keys
//	                                       have always used; keep it in keys so that they survive the
//	                                       change of date() (texts only)
//	mask_plate(s) string                   "京A***45": first 2 and last 2 characters kept
//	mask_name(s) string                    "张**": first character kept
//	mask_phone(s) string                   "138****5678"
//	last4(s) string                        the last 4 characters (ID and licence numbers)
//	plate_type_name(code) string           "02" → "小型汽车"
//	use_name(use) string                   "school_bus" → "校车"
//	licence_status_name(code) string       "B" → "超分"
//	vehicle_status_name(code) string       "Q" → "逾期未检验", "G" → "违法未处理"
//	ab_class(class) bool                   the class includes A1, A2, A3, B1 or B2
func Library(loc *time.Location) cel.EnvOption {
	if loc == nil {
		loc = time.UTC
	}
	str := func(name string, f func(string) string) cel.EnvOption {
		return cel.Function(name, cel.Overload(name+"_string", []*cel.Type{cel.StringType}, cel.StringType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				return types.String(f(string(s)))
			})))
	}
	ts := func(v ref.Val) (time.Time, bool) {
		t, ok := v.(types.Timestamp)
		return t.Time, ok
	}
	return cel.Lib(&library{opts: []cel.EnvOption{
		cel.Function("days_between", cel.Overload("days_between_timestamp_timestamp",
			[]*cel.Type{cel.TimestampType, cel.TimestampType}, cel.IntType,
			cel.BinaryBinding(func(a, b ref.Val) ref.Val {
				ta, ok1 := ts(a)
				tb, ok2 := ts(b)
				if !ok1 || !ok2 {
					return types.MaybeNoSuchOverloadErr(a)
				}
				return types.Int(DaysBetween(ta, tb, loc))
			}))),
		cel.Function("add_days", cel.Overload("add_days_timestamp_int",
			[]*cel.Type{cel.TimestampType, cel.IntType}, cel.TimestampType,
			cel.BinaryBinding(func(a, n ref.Val) ref.Val {
				t, ok := ts(a)
				k, ok2 := n.(types.Int)
				if !ok || !ok2 {
					return types.MaybeNoSuchOverloadErr(a)
				}
				return types.Timestamp{Time: t.In(loc).AddDate(0, 0, int(k))}
			}))),
		cel.Function("at_local", cel.Overload("at_local_timestamp_string",
			[]*cel.Type{cel.TimestampType, cel.StringType}, cel.TimestampType,
			cel.BinaryBinding(func(a, hm ref.Val) ref.Val {
				t, ok := ts(a)
				s, ok2 := hm.(types.String)
				if !ok || !ok2 {
					return types.MaybeNoSuchOverloadErr(a)
				}
				h, m, err := ParseClock(string(s))
				if err != nil {
					return types.NewErr("at_local: %v", err)
				}
				l := t.In(loc)
				return types.Timestamp{Time: time.Date(l.Year(), l.Month(), l.Day(), h, m, 0, 0, loc)}
			}))),
		cel.Function("date", cel.Overload("date_timestamp", []*cel.Type{cel.TimestampType}, cel.StringType,
			cel.UnaryBinding(func(a ref.Val) ref.Val {
				t, ok := ts(a)
				if !ok {
					return types.MaybeNoSuchOverloadErr(a)
				}
				return types.String(t.In(loc).Format("2006年1月2日"))
			}))),
		cel.Function("date_key", cel.Overload("date_key_timestamp", []*cel.Type{cel.TimestampType}, cel.StringType,
			cel.UnaryBinding(func(a ref.Val) ref.Val {
				t, ok := ts(a)
				if !ok {
					return types.MaybeNoSuchOverloadErr(a)
				}
				return types.String(t.In(loc).Format("2006年01月02日"))
			}))),
		cel.Function("datetime", cel.Overload("datetime_timestamp", []*cel.Type{cel.TimestampType}, cel.StringType,
			cel.UnaryBinding(func(a ref.Val) ref.Val {
				t, ok := ts(a)
				if !ok {
					return types.MaybeNoSuchOverloadErr(a)
				}
				return types.String(t.In(loc).Format("2006年1月2日15时04分"))
			}))),
		str("mask_plate", MaskPlate),
		str("mask_name", MaskName),
		str("mask_phone", MaskPhone),
		str("last4", Last4),
		str("plate_type_name", func(s string) string { return lookup(plateTypes, s, "机动车") }),
		str("use_name", func(s string) string { return lookup(useNames, s, "机动车") }),
		str("licence_status_name", func(s string) string { return lookup(licenceStatus, s, "异常") }),
		str("vehicle_status_name", func(s string) string { return lookup(vehicleStatus, s, "异常") }),
		cel.Function("ab_class", cel.Overload("ab_class_string", []*cel.Type{cel.StringType}, cel.BoolType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				return types.Bool(ABClass(string(s)))
			}))),
	}})
}

type library struct{ opts []cel.EnvOption }

func (l *library) CompileOptions() []cel.EnvOption { return l.opts }
func (l *library) ProgramOptions() []cel.ProgramOption {
	return nil
}

// resultLen is the longest result (in characters) of each string helper;
// arg >= 0 means "as long as that argument".
var resultLen = map[string]struct{ fixed, arg int }{
	"date":                {11, -1},
	"date_key":            {11, -1},
	"datetime":            {17, -1},
	"mask_plate":          {0, 0},
	"mask_name":           {0, 0},
	"mask_phone":          {11, -1},
	"last4":               {4, -1},
	"plate_type_name":     {8, -1},
	"use_name":            {6, -1},
	"licence_status_name": {6, -1},
	"vehicle_status_name": {12, -1},
	"days_between":        {6, -1},
}

// DaysBetween counts calendar days in loc from a's date to b's date.
func DaysBetween(a, b time.Time, loc *time.Location) int64 {
	la, lb := a.In(loc), b.In(loc)
	da := time.Date(la.Year(), la.Month(), la.Day(), 0, 0, 0, 0, time.UTC)
	db := time.Date(lb.Year(), lb.Month(), lb.Day(), 0, 0, 0, 0, time.UTC)
	return int64(db.Sub(da) / (24 * time.Hour))
}

// ParseClock parses "HH:MM" (24-hour).
func ParseClock(s string) (h, m int, err error) {
	if len(s) != 5 || s[2] != ':' {
		return 0, 0, fmt.Errorf("clock %q is not HH:MM", s)
	}
	for _, c := range s[:2] + s[3:] {
		if c < '0' || c > '9' {
			return 0, 0, fmt.Errorf("clock %q is not HH:MM", s)
		}
	}
	h = int(s[0]-'0')*10 + int(s[1]-'0')
	m = int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, 0, fmt.Errorf("clock %q out of range", s)
	}
	return h, m, nil
}

// MaskPlate keeps the province character, the issuing-office letter and the
// last two characters: "京A12345" → "京A***45".
func MaskPlate(s string) string {
	r := []rune(s)
	if len(r) <= 4 {
		return s
	}
	return string(r[:2]) + strings.Repeat("*", len(r)-4) + string(r[len(r)-2:])
}

// MaskName keeps the first character of a name: "张三丰" → "张**".
func MaskName(s string) string {
	n := utf8.RuneCountInString(s)
	if n <= 1 {
		return s
	}
	_, size := utf8.DecodeRuneInString(s)
	return s[:size] + strings.Repeat("*", n-1)
}

// MaskPhone keeps the first 3 and last 4 digits: "13800138000" → "138****8000".
func MaskPhone(s string) string {
	if len(s) < 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:3] + "****" + s[len(s)-4:]
}

// Last4 returns the last 4 characters of s (all of s if shorter).
func Last4(s string) string {
	r := []rune(s)
	if len(r) <= 4 {
		return s
	}
	return string(r[len(r)-4:])
}

// ABClass reports whether a licence class string includes a heavy (A or B)
// class: A1, A2, A3, B1 or B2, e.g. "A2D", "B2", "B1E".
func ABClass(class string) bool {
	c := strings.ToUpper(class)
	for _, k := range []string{"A1", "A2", "A3", "B1", "B2"} {
		if strings.Contains(c, k) {
			return true
		}
	}
	return false
}

func lookup(m map[string]string, k, def string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return def
}

// GA 24.7 plate types (号牌种类), the ones reminders mention.
var plateTypes = map[string]string{
	"01": "大型汽车", "02": "小型汽车", "03": "使馆汽车", "04": "领馆汽车",
	"05": "境外汽车", "06": "外籍汽车", "07": "普通摩托车", "08": "轻便摩托车",
	"13": "农用运输车", "15": "挂车", "16": "教练汽车", "23": "警用汽车",
	"51": "大型新能源汽车", "52": "小型新能源汽车",
}

var useNames = map[string]string{
	"private": "非营运车辆", "passenger": "客运车辆", "freight": "货运车辆",
	"school_bus": "校车", "hazardous_goods": "危险货物运输车",
}

// GA licence status codes (驾驶证状态). K and R differ between sources
// (抵押/协查; 注销可恢复/逾期未体检): left out, they name as "异常".
var licenceStatus = map[string]string{
	"A": "正常", "B": "超分", "C": "转出", "D": "暂扣", "E": "撤销", "F": "吊销",
	"G": "注销", "H": "违法未处理", "I": "事故未处理", "J": "停止使用", "L": "锁定",
	"M": "逾期未换证", "N": "延期换证", "P": "延期体检", "S": "逾期未审验",
	"T": "延期审验", "U": "扣留",
}

// GA vehicle status codes (机动车状态; a vehicle may have several at once,
// e.g. "GQ"): G is 违法未处理, Q 逾期未检验, M 强制注销.
var vehicleStatus = map[string]string{
	"A": "正常", "B": "转出", "C": "被盗抢", "D": "停驶", "E": "注销",
	"G": "违法未处理", "H": "海关监管", "I": "事故未处理", "J": "嫌疑车",
	"K": "查封", "L": "暂扣", "M": "强制注销", "N": "事故逃逸", "O": "锁定",
	"P": "达到报废标准公告牌证作废", "Q": "逾期未检验",
}
