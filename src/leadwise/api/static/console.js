// The inbox's SLA countdown: every <time data-expires> shows the time left to accept, once a second.
(function () {
  function tick() {
    document.querySelectorAll("time[data-expires]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.expires) - Date.now()) / 1000);
      if (left <= 0) { el.textContent = "expired"; el.classList.add("late"); return; }
      var m = Math.floor(left / 60), s = left % 60;
      el.textContent = (m >= 60 ? Math.floor(m / 60) + " h " + (m % 60) + " min" : m + " min " + (s < 10 ? "0" : "") + s + " s");
      el.classList.toggle("late", left < 300);
    });
  }
  document.addEventListener("DOMContentLoaded", function () { tick(); setInterval(tick, 1000); });
  document.addEventListener("htmx:afterSwap", tick);
})();

// A refused htmx request (a 4xx or 5xx is not swapped in) or no answer at all: say so at the top of
// the page, in the server's words when it sent a page with a .problem, instead of doing nothing.
(function () {
  function flash(text) {
    var box = document.getElementById("flash");
    if (!box) {
      box = document.createElement("p");
      box.id = "flash";
      box.className = "problem flash";
      box.setAttribute("role", "alert");
      document.querySelector("main").prepend(box);
    }
    box.textContent = text;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var problem = page.querySelector(".problem");
    flash("Refused (" + xhr.status + "): " + (problem ? problem.textContent.trim() : xhr.statusText || "the request failed"));
  });
  document.addEventListener("htmx:sendError", function () {
    flash("The service did not answer: check your connection and try again.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("flash");
    if (box) { box.remove(); }
  });
})();
