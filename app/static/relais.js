/* Relais review pages: keyboard shortcuts, template picker, live template preview.
   No inline script anywhere (the Content-Security-Policy forbids it); every text goes in with
   textContent or .value, never innerHTML. The pages work without this file. */
(function () {
  "use strict";

  function $(sel) { return document.querySelector(sel); }

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  function go(sel) {
    var link = $(sel);
    if (link) { window.location.assign(link.href); return true; }
    return false;
  }

  function submit(form) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  var editor = $("#editor");
  var counter = $("#length");

  function updateCount() {
    if (!editor || !counter) return;
    var limit = parseInt(counter.getAttribute("data-limit"), 10) || 0;
    counter.textContent = editor.value.length + " / " + limit;
    counter.classList.toggle("error-text", limit > 0 && editor.value.length > limit);
  }

  // the saved answer the editor's text was taken from, sent with the approval (its source)
  var answerId = $("#answer-id");

  function setReply(text, answer) {
    if (!editor) return;
    editor.value = text;
    if (answerId) answerId.value = answer || "";
    updateCount();
    editor.focus();
  }

  if (editor) editor.addEventListener("input", updateCount);

  [["#template-picker", false], ["#answer-picker", true]].forEach(function (pick) {
    var picker = $(pick[0]);
    if (!picker) return;
    picker.addEventListener("change", function () {
      var opt = picker.options[picker.selectedIndex];
      if (opt && opt.value) setReply(opt.getAttribute("data-text") || "", pick[1] ? opt.value : "");
    });
  });

  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("[data-use]") : null;
    if (!btn) return;
    var source = document.getElementById(btn.getAttribute("data-use"));
    if (source) setReply(source.textContent);
  });

  // queue: j/k move through the list, Enter opens
  var items = Array.prototype.slice.call(document.querySelectorAll("a[data-nav='item']"));
  function moveInQueue(step) {
    if (!items.length) return;
    var i = items.indexOf(document.activeElement);
    i = i < 0 ? (step > 0 ? 0 : items.length - 1) : Math.min(items.length - 1, Math.max(0, i + step));
    items[i].focus();
    items[i].scrollIntoView({ block: "nearest" });
  }

  // ?: the help as an overlay over the page; Esc, a click outside or Close hides it
  var help = $("#shortcuts");
  var helpFrom = null;
  function helpOpen() { return help && !help.classList.contains("hidden"); }
  function toggleHelp() {
    if (!help) return;
    if (helpOpen()) {
      help.classList.add("hidden");
      if (helpFrom && helpFrom.focus) helpFrom.focus();
    } else {
      helpFrom = document.activeElement;
      help.classList.remove("hidden");
      help.setAttribute("tabindex", "-1");
      help.focus();
    }
  }
  if (help) {
    var close = $("#shortcuts-close");
    if (close) close.addEventListener("click", toggleHelp);
    document.addEventListener("click", function (ev) {
      if (helpOpen() && !help.contains(ev.target)) toggleHelp();
    });
  }

  // queue: boxes to act on several messages; x ticks the selected one
  var bulk = $("#bulk-form");
  var picks = Array.prototype.slice.call(document.querySelectorAll("input.pick"));
  var countLine = $("#selected-count");
  function updatePicked() {
    if (!countLine) return;
    var n = picks.filter(function (p) { return p.checked; }).length;
    countLine.textContent = n ? n + " ✓" : countLine.getAttribute("data-none");
  }
  picks.forEach(function (p) { p.addEventListener("change", updatePicked); });
  var all = $("#select-all");
  if (all) {
    all.addEventListener("change", function () {
      picks.forEach(function (p) { p.checked = all.checked; });
      updatePicked();
    });
  }
  function pickOf(el) {
    var li = el && el.closest ? el.closest("li.item") : null;
    return li ? li.querySelector("input.pick") : null;
  }
  function assignFocusedToMe() {
    var pick = pickOf(document.activeElement);
    if (!bulk || !pick) return false;
    picks.forEach(function (p) { p.checked = p === pick; });
    $("#bulk-assignee").value = "me";
    var button = $("#bulk-assign");
    if (bulk.requestSubmit) bulk.requestSubmit(button); else button.click();
    return true;
  }

  // queue: new messages are announced without a reload (a small JSON asked every few seconds)
  var news = $("#news");
  if (news && window.fetch) {
    var after = parseInt(news.getAttribute("data-after"), 10) || 0;
    var query = news.getAttribute("data-query") || "";
    var every = parseInt(news.getAttribute("data-interval"), 10) || 5000;
    var ask = function () {
      if (document.hidden) return;
      var url = "/queue/news?after=" + after + (query ? "&" + query : "");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (res) {
          if (!res || !res.count) return;
          $("#news-text").textContent = res.text;
          news.classList.remove("hidden");
        })
        .catch(function () { /* offline: try again later */ });
    };
    setInterval(ask, every);
    document.addEventListener("visibilitychange", ask);
  }

  var category = $("#category");
  if (category) {
    category.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); submit($("#category-form")); }
    });
  }

  document.addEventListener("keydown", function (ev) {
    var target = ev.target;
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && target === editor) {
      ev.preventDefault();
      submit($("#approve-form"));
      return;
    }
    if (ev.key === "Escape" && helpOpen()) { toggleHelp(); return; }
    if (ev.key === "Escape" && typing(target)) { target.blur(); return; }
    if (typing(target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    var handled = true;
    switch (ev.key) {
      case "j": if (items.length) moveInQueue(1); else handled = go("a[data-nav='next']"); break;
      case "k": if (items.length) moveInQueue(-1); else handled = go("a[data-nav='prev']"); break;
      case "u": handled = go("a[data-nav='up']"); break;
      case "a": submit($("#approve-form")); break;
      case "e":
        if (editor) { editor.focus(); editor.setSelectionRange(editor.value.length, editor.value.length); }
        break;
      case "r": if ($("#reason")) $("#reason").focus(); break;
      case "c": if (category) category.focus(); break;
      case "m":
        if ($("#assign-me-form")) submit($("#assign-me-form"));
        else handled = assignFocusedToMe();
        break;
      case "n": if ($("#note")) $("#note").focus(); else handled = false; break;
      case "x": {
        var pick = pickOf(document.activeElement);
        if (pick) { pick.checked = !pick.checked; updatePicked(); } else handled = false;
        break;
      }
      case "?": toggleHelp(); break;
      default: handled = false;
    }
    if (handled) ev.preventDefault();
  });

  // templates: live preview, rendered by the server in the sandbox
  var body = $("#template-body");
  var preview = $("#preview");
  if (body && preview) {
    var form = $("#template-form");
    var timer = null;
    var render = function () {
      var data = new URLSearchParams();
      data.set("csrf_token", form.querySelector("input[name='csrf_token']").value);
      data.set("body", body.value);
      ["category", "language", "channel_kind"].forEach(function (name) {
        var field = form.querySelector("[name='" + name + "']");
        if (field) data.set(name, field.value);
      });
      fetch("/templates/preview", { method: "POST", body: data, credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (res) {
          preview.replaceChildren();
          var line = function (cls, id, text) {
            var p = document.createElement("p");
            p.className = cls;
            if (id) p.id = id;
            p.textContent = text;
            preview.append(p);
          };
          if (res.sample) line("muted small", "preview-sample", preview.getAttribute("data-sample") + " « " + res.sample + " »");
          if (res.ok) {
            var quote = document.createElement("blockquote");
            quote.className = "reply-text";
            quote.id = "preview-text";
            quote.textContent = res.text;
            preview.append(quote);
            line("muted small", "preview-info", res.length + " / " + res.limit + " " + preview.getAttribute("data-characters") +
              (res.too_long ? " — " + preview.getAttribute("data-too-long") : "") +
              (res.too_long_for && res.too_long_for.length ? " — " + preview.getAttribute("data-too-long-for") + " " + res.too_long_for.join(", ") : ""));
          } else {
            line("error-text", "preview-error", res.error || preview.getAttribute("data-fails"));
          }
          (res.unknown_reasons || []).forEach(function (reason) { line("error-text preview-unknown", null, reason); });
        })
        .catch(function () { /* the Preview button still works without it */ });
    };
    var later = function () {
      clearTimeout(timer);
      timer = setTimeout(render, 300);
    };
    body.addEventListener("input", later);
    ["category", "language", "channel_kind"].forEach(function (name) {
      var field = form.querySelector("[name='" + name + "']");
      if (field) field.addEventListener("change", later);
    });
  }
})();
