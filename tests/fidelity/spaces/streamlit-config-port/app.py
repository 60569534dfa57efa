import streamlit as st

st.write("streamlit-config-port ok")
