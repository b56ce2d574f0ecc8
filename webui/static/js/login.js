// The standalone server's login form: after the login, come back to the page that was asked for (its hash route).

const next = document.querySelector("form.login input[name=next]");
if (next && next.value === "#/" && location.hash.startsWith("#/")) next.value = location.hash;
