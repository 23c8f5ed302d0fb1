// The receipt's QR code opens /tra-cuu#ma=<dossier code>&ma-tra-cuu=<token>. The part after "#"
// never leaves the phone: browsers send it to no server and put it in no Referer, so the token
// ends up in no log. This script reads it, removes it from the address bar and history, and sends
// the lookup form (a POST, so the token is not in a URL either). Without JavaScript the page is
// the same form, to fill in by hand.
(function () {
  "use strict";
  var hash = window.location.hash;
  if (!hash || hash.length < 2) { return; }
  var params = new URLSearchParams(hash.slice(1));
  var code = params.get("ma");
  var token = params.get("ma-tra-cuu");
  if (window.history && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.pathname);
  }
  if (!code || !token) { return; }
  function submit() {
    var form = document.getElementById("form-tra-cuu");
    if (!form) { return; }
    form.elements["ma-ho-so"].value = code;
    form.elements["ma-tra-cuu"].value = token;
    form.submit();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", submit);
  } else {
    submit();
  }
})();
