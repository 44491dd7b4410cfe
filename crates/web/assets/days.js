// Day separators in the message list: "Today", "Yesterday" or a date, before the first message
// of each local day. One pass over the list puts them right after any change (a page of older
// messages prepended, a live message appended, a full render), touching only what is wrong.
import { h } from "./dom.js";

const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" });
const dateYearFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric", year: "numeric" });

function pad(n) {
  return String(n).padStart(2, "0");
}

function keyOf(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** The local day of a time, as "YYYY-MM-DD" ("" when the time is not one). */
export function dayKey(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : keyOf(d);
}

/** "Today", "Yesterday", or the date (with the year when it is not this year's). */
export function dayLabel(key, now = new Date()) {
  if (key === keyOf(now)) return "Today";
  if (key === keyOf(new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1))) return "Yesterday";
  const [y, m, d] = key.split("-").map(Number);
  const date = new Date(y, m - 1, d);
  return (y === now.getFullYear() ? dateFmt : dateYearFmt).format(date);
}

function separator(key, now) {
  return h("li", { class: "day-sep", dataset: { testid: "day-separator", day: key } }, h("time", { datetime: key }, dayLabel(key, now)));
}

function relabel(sep, key, now) {
  sep.dataset.day = key;
  const time = sep.querySelector("time");
  const label = dayLabel(key, now);
  time.setAttribute("datetime", key);
  if (time.textContent !== label) time.textContent = label;
}

/**
 * Puts exactly one separator before the first message of each day in `list` (an element whose
 * children are message items, `li.msg` with `data-day`, and separators) and none elsewhere.
 */
export function placeDaySeparators(list) {
  const now = new Date();
  let prevDay = null;
  let pending = null;
  for (const el of Array.from(list.children)) {
    if (el.classList.contains("day-sep")) {
      if (pending) pending.remove();
      pending = el;
      continue;
    }
    if (!el.classList.contains("msg")) continue;
    const day = el.dataset.day || prevDay || "";
    if (day && day !== prevDay) {
      if (pending) relabel(pending, day, now);
      else list.insertBefore(separator(day, now), el);
    } else if (pending) {
      pending.remove();
    }
    pending = null;
    prevDay = day;
  }
  if (pending) pending.remove();
}

/** Calls `fn` just after each local midnight, so "Today" becomes "Yesterday" on time. */
export function atEachMidnight(fn) {
  const now = new Date();
  const next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 1);
  setTimeout(() => {
    fn();
    atEachMidnight(fn);
  }, next - now);
}
