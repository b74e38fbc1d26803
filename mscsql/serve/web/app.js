// The mscsql web page: ask a question, watch the stages arrive (Server-Sent Events over a POST), see the chosen
// SQL, the result with a chart when it has a category or time column and a numeric one, and every candidate.
// Database values are untrusted: they are only ever set as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let lastAnswer = null;
let conversation = null; // the conversation the next question continues (null: a new one)

function headers() {
  const key = localStorage.getItem("mscsql-key") || $("key").value;
  const h = { "content-type": "application/json" };
  if (key) h["authorization"] = "Bearer " + key;
  return h;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function loadDatabases() {
  const reply = await fetch("/v1/databases", { headers: headers() });
  if (reply.status === 401) {
    $("key-label").hidden = false;
    showError("This service needs an API key.");
    return;
  }
  const body = await reply.json();
  const select = $("database");
  select.replaceChildren();
  for (const db of body.databases) {
    const option = document.createElement("option");
    option.value = db.name;
    option.textContent = db.description ? `${db.name} — ${db.description}` : db.name;
    select.append(option);
  }
}

function stage(name, data) {
  const item = document.createElement("li");
  item.className = "done";
  const seconds = typeof data.elapsed_s === "number" ? ` ${data.elapsed_s.toFixed(2)} s` : "";
  item.textContent = (data.generator ? `${name}: ${data.generator}` : name) + seconds;
  $("stages").append(item);
}

async function ask(event) {
  event.preventDefault();
  const key = $("key").value;
  if (key) localStorage.setItem("mscsql-key", key);
  showError("");
  $("answer").hidden = true;
  $("options").hidden = true;
  $("stages").replaceChildren();
  $("submit").disabled = true;
  try {
    const reply = await fetch("/v1/ask", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ database: $("database").value, question: $("question").value,
                             evidence: $("evidence").value || null, stream: true,
                             conversation_id: conversation }),
    });
    if (!reply.ok) {
      const body = await reply.json().catch(() => ({}));
      showError((body.error && body.error.message) || `the service answered ${reply.status}`);
      return;
    }
    const reader = reply.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const fields = {};
        for (const line of block.split("\n")) {
          const at = line.indexOf(": ");
          if (at > 0) fields[line.slice(0, at)] = line.slice(at + 2);
        }
        if (!fields.event || !fields.data) continue;
        const data = JSON.parse(fields.data);
        if (fields.event === "answer") render(data);
        else if (fields.event === "error") showError(data.message);
        else stage(fields.event, data);
      }
    }
  } catch (err) {
    showError(String(err));
  } finally {
    $("submit").disabled = false;
  }
}

function cellText(value) {
  return value === null || value === undefined ? "NULL" : String(value);
}

function fillTable(table, columns, rows) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const name of columns) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) tr.insertCell().textContent = cellText(value);
  }
}

function setConversation(id) {
  conversation = id;
  $("conversation").hidden = !id;
}

function badge(answer) {
  const box = $("badge");
  box.className = "";
  if (answer.source === "verified") {
    box.textContent = "verified";
    box.className = "verified";
  } else if (typeof answer.confidence === "number") {
    box.textContent = `confidence ${Math.round(answer.confidence * 100)}%`;
    if (answer.abstained) box.className = "low";
  } else {
    box.textContent = "";
  }
}

// An answer that abstains shows its options: one per successful group, the most agreed first; choosing one runs
// its SQL (read-only, through /v1/sql) and shows it as the answer.
function renderOptions(answer) {
  const list = $("option-list");
  list.replaceChildren();
  const groups = answer.groups.map((g, i) => ({ ...g, index: i })).filter((g) => g.ok)
    .sort((a, b) => b.count - a.count);
  const total = answer.groups.reduce((n, g) => n + g.count, 0);
  $("options-note").textContent = `The candidates disagree (confidence ${Math.round(answer.confidence * 100)}%). ` +
    "Each option is a different result; the first is the best guess.";
  for (const group of groups) {
    const member = answer.candidates.find((c) => c.group === group.index);
    const item = document.createElement("li");
    const pre = document.createElement("pre");
    pre.textContent = member.sql;
    const says = document.createElement("p");
    says.className = "option-explanation";
    says.textContent = group.explanation || "";
    const note = document.createElement("span");
    note.textContent = `${group.count} of ${total} samples, ${member.row_count} row${member.row_count === 1 ? "" : "s"} `;
    const pick = document.createElement("button");
    pick.type = "button";
    pick.textContent = "Use this one";
    pick.addEventListener("click", () => useOption(answer, member, group));
    item.append(says, pre, note, pick);
    list.append(item);
  }
  $("options").hidden = groups.length === 0;
}

async function useOption(answer, member, group) {
  showError("");
  const reply = await fetch("/v1/sql", {
    method: "POST", headers: headers(),
    body: JSON.stringify({ database: answer.database, sql: member.sql }),
  });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    showError((body.error && body.error.message) || `the service answered ${reply.status}`);
    return;
  }
  if (member.group !== answer.chosen_group && answer.id) {
    // the person chose another option: tell the service, so follow-up questions build on this query
    await fetch(`/v1/answers/${answer.id}/feedback`, {
      method: "POST", headers: headers(), body: JSON.stringify({ correct: false, sql: member.sql }),
    }).catch(() => {});
  }
  $("options").hidden = true;
  render({ ...answer, sql: member.sql, result: body, abstained: false, explanation: group.explanation || "",
           chosen_group: member.group }, true);
}

function render(answer, picked = false) {
  lastAnswer = answer;
  if (answer.conversation_id) setConversation(answer.conversation_id);
  badge(answer);
  if (answer.abstained && !picked) {
    $("answer").hidden = true;
    renderOptions(answer);
    return;
  }
  $("options").hidden = true;
  $("answer").hidden = false;
  $("sql").textContent = answer.sql || "(no candidate)";
  $("explanation").textContent = answer.explanation || "";
  const result = answer.result || { columns: [], rows: [], status: "none" };
  $("status").textContent = `status: ${result.status}` + (result.error ? ` — ${result.error}` : "") +
    `; ${result.row_count} row${result.row_count === 1 ? "" : "s"}`;
  $("truncated").hidden = !result.truncated;
  $("truncated").textContent = `Showing the first ${result.rows.length} rows: the result has more.`;
  fillTable($("result"), result.columns, result.rows);
  drawChart(result);
  const candidates = answer.candidates.map((c) => [
    c.group === answer.chosen_group ? `${c.group} (chosen)` : String(c.group),
    Object.entries(c.generators).map(([g, n]) => `${g}×${n}`).join(", "), c.status, c.row_count, c.sql]);
  fillTable($("candidates"), ["group", "generators", "status", "rows", "SQL"], candidates);
  const body = $("candidates").tBodies[0];
  answer.candidates.forEach((c, i) => {
    body.rows[i].cells[4].className = "sql";
    if (c.group === answer.chosen_group) body.rows[i].className = "chosen";
  });
}

const TIME = /^\d{4}-\d{2}(-\d{2})?([ T].*)?$/;

function chartColumns(result) {
  if (!result.rows.length || result.rows.length > 60 || result.columns.length < 2) return null;
  const numeric = (c) => result.rows.every((r) => typeof r[c] === "number");
  const textual = (c) => result.rows.every((r) => typeof r[c] === "string");
  const value = result.columns.findIndex((_, c) => numeric(c));
  const label = result.columns.findIndex((_, c) => c !== value && textual(c));
  if (value < 0 || label < 0) return null;
  const time = result.rows.every((r) => TIME.test(r[label]));
  return { label, value, time };
}

function svg(name, attributes, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawChart(result) {
  const chart = $("chart");
  chart.replaceChildren();
  const found = chartColumns(result);
  $("chart-wrap").hidden = !found;
  if (!found) return;
  let points = result.rows.map((r) => [String(r[found.label]), r[found.value]]);
  if (found.time) points = points.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const width = 720, height = 260, left = 60, bottom = 70, top = 10;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.setAttribute("width", width);
  chart.setAttribute("height", height);
  const top_value = Math.max(...points.map((p) => p[1]), 0) || 1;
  const low = Math.min(...points.map((p) => p[1]), 0);
  const span = top_value - low || 1;
  const plot = height - bottom - top;
  const step = (width - left - 10) / points.length;
  const y = (v) => top + plot * (1 - (v - low) / span);
  chart.append(svg("line", { x1: left, y1: y(low), x2: width - 10, y2: y(low), stroke: "#8596a8" }));
  chart.append(svg("text", { x: left - 6, y: y(top_value) + 4, "text-anchor": "end", "font-size": 11 },
                   String(top_value)));
  if (found.time) {
    const path = points.map((p, i) => `${i ? "L" : "M"}${left + step * (i + 0.5)},${y(p[1])}`).join(" ");
    chart.append(svg("path", { d: path, fill: "none", stroke: "#24425e", "stroke-width": 2 }));
  }
  points.forEach(([name, v], i) => {
    const x = left + step * i;
    if (!found.time) {
      chart.append(svg("rect", { x: x + step * 0.1, y: Math.min(y(v), y(0)), width: step * 0.8,
                                 height: Math.abs(y(0) - y(v)), fill: "#3c6e9c" }));
    }
    const label = name.length > 14 ? name.slice(0, 13) + "…" : name;
    chart.append(svg("text", { x: x + step / 2, y: height - bottom + 14, "font-size": 10, "text-anchor": "end",
                               transform: `rotate(-35 ${x + step / 2} ${height - bottom + 14})` }, label));
  });
  $("chart-caption").textContent =
    `${result.columns[found.value]} by ${result.columns[found.label]}` + (result.truncated ? " (first rows)" : "");
}

function csv() {
  if (!lastAnswer || !lastAnswer.result) return;
  const quote = (v) => {
    const text = cellText(v);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  const lines = [lastAnswer.result.columns.map(quote).join(",")]
    .concat(lastAnswer.result.rows.map((r) => r.map(quote).join(",")));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }));
  link.download = "mscsql-result.csv";
  link.click();
}

async function copy() {
  const text = $("sql").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copy").textContent = "Copied";
  } catch (_err) {
    const range = document.createRange();
    range.selectNodeContents($("sql"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $("copy").textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { $("copy").textContent = "Copy SQL"; }, 2000);
}

$("ask").addEventListener("submit", ask);
$("csv").addEventListener("click", csv);
$("copy").addEventListener("click", copy);
$("new-conversation").addEventListener("click", () => setConversation(null));
$("database").addEventListener("change", () => setConversation(null)); // a conversation is about one database
$("key").addEventListener("change", () => { localStorage.setItem("mscsql-key", $("key").value); loadDatabases(); });
loadDatabases().catch((err) => showError(String(err)));
