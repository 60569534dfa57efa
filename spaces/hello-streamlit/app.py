import math

import streamlit as st

st.title("Hello Streamlit")
points = st.slider("Points", min_value=10, max_value=200, value=50)
st.line_chart({"sin": [math.sin(i / 8) for i in range(points)]})

if "clicks" not in st.session_state:
    st.session_state.clicks = 0
if st.button("Count"):
    st.session_state.clicks += 1
st.write(f"Clicked {st.session_state.clicks} times")
