let clicks = 0;
document.getElementById("count").addEventListener("click", () => {
  clicks += 1;
  document.getElementById("clicks").textContent = String(clicks);
});
