package say

import "sort"

// hanUnit names the unit of each plate character.
var hanUnit = map[rune]string{
	'京': "p_jing", '津': "p_jin", '沪': "p_hu", '渝': "p_yu", '冀': "p_ji",
	'豫': "p_yu4", '云': "p_yun", '辽': "p_liao", '黑': "p_hei", '湘': "p_xiang",
	'皖': "p_wan", '鲁': "p_lu", '新': "p_xin", '苏': "p_su", '浙': "p_zhe",
	'赣': "p_gan", '鄂': "p_e", '桂': "p_gui", '甘': "p_gan1", '晋': "p_jin4",
	'蒙': "p_meng", '陕': "p_shan", '吉': "p_jil", '闽': "p_min", '贵': "p_gui4",
	'粤': "p_yue", '青': "p_qing", '藏': "p_zang", '川': "p_chuan", '宁': "p_ning",
	'琼': "p_qiong", '使': "p_shi", '领': "p_ling", '警': "p_jingc", '学': "p_xue",
	'挂': "p_gua", '港': "p_gang", '澳': "p_ao",
}

// Units returns every unit name the package can emit with the Chinese text
// a recording of it must say, sorted by name.
func Units() []UnitText {
	m := map[string]string{
		Liang: "两", Shi: "十", Bai: "百", Qian: "千", Wan: "万", Yi: "亿",
		Fu: "负", Yao: "幺", Yuan: "元", Nian: "年", Yue: "月", Ri: "日",
		Dian: "点", Fen: "分", Zheng: "整", "xing": "星", "jing": "井",
	}
	for i, t := range []string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"} {
		m[digit(i)] = t
	}
	for r := 'A'; r <= 'Z'; r++ {
		m["letter_"+string(r)] = string(r)
	}
	for r, name := range hanUnit {
		m[name] = string(r)
	}
	out := make([]UnitText, 0, len(m))
	for k, v := range m {
		out = append(out, UnitText{Name: k, Text: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// UnitText is a unit and what it says.
type UnitText struct {
	Name string
	Text string
}
