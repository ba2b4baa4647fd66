package contentcheck

import (
	"bufio"
	"os"
	"testing"
)

func checker() *Checker {
	return New(Config{ServiceNumbers: []string{"12123", "12122", "12345", "110", "122"}, AllowedDomains: []string{"122.gov.cn"}})
}

// TestRenderedTextsPass: every text the shipped rules' tests expect
// (rules/tests) passes: the check must not hold real reminders.
func TestRenderedTextsPass(t *testing.T) {
	f, err := os.Open("testdata/rendered.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := checker()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		if r := c.Check(sc.Text()); r != "" {
			t.Errorf("%s: %q", r, sc.Text())
		}
	}
	if n < 30 {
		t.Fatalf("only %d texts", n)
	}
}

func TestCheck(t *testing.T) {
	c := checker()
	const sig = "【交管12123】"
	cases := []struct {
		text, want string
	}{
		{sig + "今明两天石家庄、保定有大雾，能见度低于100米，请减速慢行。", ""},
		{sig + "您的车辆京A12345于2026年11月27日在北京市朝阳区建国路与东三环路口驾驶机动车违反道路交通信号灯通行，罚款200元，记6分。", ""},
		{sig + "请登录122.gov.cn或交管12123办理。", ""},
		{sig + "道路救援请拨打12122，违法举报请拨12345。", ""},
		{sig + "限行时间2026-11-27至2026-11-30，车辆粤B·D12345请绕行。", ""},
		{sig + "罚款1000元，记3分。", ""},
		{sig + "第1.5公里处施工。", ""},
		// links and domains
		{sig + "您有罚款待缴，请访问http://12123-pay.example.cn/q缴纳。", ReasonLink},
		{sig + "详情见www.abc.com", ReasonLink},
		{sig + "详情见ｗｗｗ．ａｂｃ．ｃｏｍ", ReasonLink},
		{sig + "登录abc.top查看", ReasonLink},
		{sig + "登录 ABC.TOP 查看", ReasonLink},
		{sig + "登录abc。com查看", ReasonLink},
		{sig + "登录аbс.сом查看", ReasonLink}, // Cyrillic а, с, о, м
		{sig + "登录xn--fiqs8s.xn--fiqs8s查看", ReasonLink},
		{sig + "登录交管缴费.中国查看", ReasonLink},
		{sig + "登录 pay-12123.cn 缴费", ReasonLink},
		{sig + "登录𝐚𝐛𝐜.𝐜𝐨𝐦缴费", ReasonLink}, // mathematical bold
		{sig + "登录abc.gov.cn.evil.top缴费", ReasonLink},
		// brackets
		{sig + "【交管12123】您的驾驶证已被扣留", ReasonBracket},
		{"【交管12123】【公安部】通知", ReasonBracket},
		{sig + "请回复〖确认〗", ReasonBracket},
		{sig + "结尾】", ReasonBracket},
		// phone numbers
		{sig + "请联系13812345678处理", ReasonPhone},
		{sig + "请联系138 1234 5678处理", ReasonPhone},
		{sig + "请联系１３８１２３４５６７８处理", ReasonPhone},
		{sig + "请拨打010-12345678", ReasonPhone},
		{sig + "请拨打4008123123", ReasonPhone},
		{sig + "请拨打95588咨询", ReasonPhone},
		{sig + "请拨打12388", ReasonPhone},
		{sig + "证号310115197809042569", ReasonPhone},
		// control characters
		{sig + "正常\u202e文本", ReasonControl},
		{sig + "零宽\u200b字符", ReasonControl},
		{sig + "响铃\u0007", ReasonControl},
		{sig + "bad\xffutf8", ReasonControl},
	}
	for _, tc := range cases {
		if got := c.Check(tc.text); got != tc.want {
			t.Errorf("Check(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("【交管12123】www.abc.com")
	f.Add("【交管12123】请联系13812345678")
	c := checker()
	f.Fuzz(func(t *testing.T, s string) {
		r := c.Check(s)
		switch r {
		case "", ReasonLink, ReasonBracket, ReasonPhone, ReasonControl:
		default:
			t.Fatalf("reason %q", r)
		}
	})
}
