// The reviewers' page's keys (served by seam serve at /ui/assets/page.js). The page
// works without it; it only adds the shortcuts. Keys act only when no text field has
// the focus, so typing a note or an edit never decides anything.
//   a  accept          r  reject          e  edit the payload
//   n  next review     q  the queue
(function () {
  "use strict";
  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }
  function click(id) {
    var el = document.getElementById(id);
    if (!el) return false;
    if (el.tagName === "A") { window.location.assign(el.href); } else { el.click(); }
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(document.activeElement)) return;
    var done = false;
    switch (event.key) {
      case "a": done = click("accept"); break;
      case "r": done = click("reject"); break;
      case "n": done = click("next"); break;
      case "q": window.location.assign("/ui/reviews"); done = true; break;
      case "e":
        var editor = document.getElementById("payload-editor");
        if (editor) { editor.focus(); done = true; }
        break;
    }
    if (done) event.preventDefault();
  });
  // A decision is sent once: a second press while the first is on its way is ignored.
  var forms = document.querySelectorAll("form.decision");
  for (var i = 0; i < forms.length; i++) {
    forms[i].addEventListener("submit", function (event) {
      var form = event.target;
      if (form.dataset.sent === "1") { event.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  }
})();
