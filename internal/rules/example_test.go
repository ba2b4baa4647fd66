package rules_test

import (
	"fmt"
	"time"

	"github.com/traffic12123/gateway/internal/event"
	"github.com/traffic12123/gateway/internal/rules"
)

func ExampleSet_Evaluate() {
	set, err := rules.LoadDir("../../rules", rules.Options{})
	if err != nil {
		fmt.Println(err) // every problem as file:line:column: message
		return
	}
	ev := &event.Event{ID: "e1", Type: event.TypeViolationProcessed, ViolationProcessed: &event.ViolationProcessed{
		PointsBefore: 8, PointsApplied: 2,
		Licence: event.Licence{Number: "310115198808124567", Phone: "18912345678", Class: "C1", Status: "A", Points: 10,
			CycleEnd: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)},
	}}
	res, _ := set.Evaluate(ev, time.Date(2026, 11, 27, 13, 30, 0, 0, time.UTC)) // 21:30 in Beijing
	for _, d := range res.Decisions {
		fmt.Println(d.RuleID, d.Recipient, d.Segments, d.NotBefore.Format(time.RFC3339))
		fmt.Println(d.Text)
	}
	// Output:
	// violation.points_9 18912345678 2 2026-11-28T08:00:00+08:00
	// 【交管12123】您的驾驶证(证号末4位4567)本记分周期已累积记10分，周期截至2027年3月1日。记满12分将被扣留驾驶证并须参加满分学习、考试（可在任一公安机关交通管理部门，部分学习可通过交管12123在线完成）。
}
