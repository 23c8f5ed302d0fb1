// The receipt's QR code opens /tra-cuu#ma=<dossier code>&ma-tra-cuu=<token>. The part after "#"
// never leaves the phone: browsers send it to no server and put it in no Referer, so the token
// ends up in no log. This script reads it, removes it from the address bar and history, and sends
// the lookup form (a POST, so the token is not in a URL either). Without JavaScript the page is
// the same form, to fill in by hand.
//
// A second receipt's link opened in the same tab differs from the page shown (the form, or a
// status, both at /tra-cuu) only after "#": the browser loads nothing and only says the fragment
// changed. So the script follows those changes too, on the status page as well, where it builds
// the same form to send.
(function () {
  "use strict";
  function send(code, token) {
    var form = document.getElementById("form-tra-cuu");
    if (!form) {
      form = document.createElement("form");
      form.method = "post";
      form.action = "/tra-cuu";
      form.hidden = true;
      ["ma-ho-so", "ma-tra-cuu"].forEach(function (name) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        form.appendChild(input);
      });
      document.body.appendChild(form);
    }
    form.elements["ma-ho-so"].value = code;
    form.elements["ma-tra-cuu"].value = token;
    form.submit();
  }
  function follow() {
    var hash = window.location.hash;
    if (!hash || hash.length < 2) { return; }
    var params = new URLSearchParams(hash.slice(1));
    var code = params.get("ma");
    var token = params.get("ma-tra-cuu");
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname);
    }
    if (!code || !token) { return; }
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { send(code, token); });
    } else {
      send(code, token);
    }
  }
  window.addEventListener("hashchange", follow);
  follow();
})();
