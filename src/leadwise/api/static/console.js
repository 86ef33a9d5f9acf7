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
